"""Which fast Walsh-Hadamard method is fastest at each size, on this backend?

Times `fwht(x, method=..., max_factor=...)` on a `(batch, n)` float32 tensor,
jit-compiled on TensorFlow and JAX (eager on PyTorch), interleaved, median of
repeats (the native kernel in a `tf.function` without XLA on TensorFlow, where
XLA compiles no custom op), for n = 2^4 .. 2^max-log-n and each batch: the
dense matrix product (n <= 4096), the butterfly, and every distinct Kronecker
factorisation (largest factor 4 .. 128). Also times `x * c` (an elementwise
multiply of the same tensor, the memory floor) and reports each method against
it, and how far the rule of `method="auto"`
(`keras_crosswise.ops.hadamard.auto_method`) is from the fastest method at each
size: `rule / fastest`, and its worst value at n >= 256 for `--rule-batch` rows
(the rule's goal: at most 1.2). On a CPU, on every backend, the native C kernel
(`method="native"`, what `"auto"` runs there) is timed beside them; the rule
and "fastest" concern the portable `keras.ops` methods, which every export
runs.
Writes docs/benchmarks/fwht_methods_<backend>_<device>.json.
Run per backend: KERAS_BACKEND=jax python -m benchmarks.speed.fwht_methods
    [--batches 1 32 256 4096] [--quick]
"""

import pathlib

import keras

from benchmarks.harness.results import command_line, write_json
from benchmarks.harness.timing import (
    compile_function,
    interleaved_medians,
    random_inputs,
)
from keras_crosswise import native
from keras_crosswise.ops import fwht
from keras_crosswise.ops.hadamard import (
    device_kind,
    kronecker_factors,
    resolve_method,
)

MAX_ELEMENTS = 2**24  # batch * n above this is skipped (64 MB of float32)


def kronecker_name(n, max_factor):
    return "kronecker " + "x".join(map(str, kronecker_factors(n, max_factor)))


def candidates(n, with_native):
    """name -> (method, max_factor), one per distinct computation."""
    found = {"butterfly": ("butterfly", None)}
    if with_native:
        found["native"] = ("native", None)
    if n <= 4096:
        found["matmul"] = ("matmul", None)
    for max_factor in (4, 8, 16, 32, 64, 128):
        found.setdefault(kronecker_name(n, max_factor), ("kronecker", max_factor))
    return found


def measure(n, batch, repeats, with_native):
    x = keras.ops.convert_to_tensor(random_inputs((batch, n)))
    scale = keras.ops.convert_to_tensor(random_inputs((n,), seed=1))
    functions = {
        name: compile_function(
            lambda v, m=method, f=factor: fwht(v, method=m, max_factor=f),
            xla=method != "native",  # XLA compiles no custom op (TensorFlow)
        )
        for name, (method, factor) in candidates(n, with_native).items()
    }
    functions["x * c"] = compile_function(lambda v: v * scale)
    return interleaved_medians(
        {name: (lambda f=f: f(x)) for name, f in functions.items()}, repeats
    )


def arguments(parser):
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 32, 256, 4096])
    parser.add_argument("--max-log-n", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rule-batch", type=int, default=256)


def keras_ops_methods(times):
    return {k: v for k, v in times.items() if k not in ("x * c", "native")}


def rule_name(n):
    """The `keras.ops` method `fwht`'s rule picks at n, as `measure` names it."""
    method, max_factor = resolve_method(n)
    return kronecker_name(n, max_factor) if max_factor else method


def run(args):
    if args.quick:
        args.batches, args.max_log_n, args.repeats = [args.rule_batch], 8, 2
    backend, device = keras.backend.backend(), device_kind()
    found = native.status()
    with_native = found["available"] and device == "cpu"
    seconds, fastest_at, rule_ratios, native_ratios = {}, {}, {}, {}
    for batch in args.batches:
        for log_n in range(4, args.max_log_n + 1):
            n = 2**log_n
            if batch * n > MAX_ELEMENTS:
                continue
            times = measure(n, batch, args.repeats, with_native)
            seconds[f"{batch}x{n}"] = times
            methods = keras_ops_methods(times)
            fastest = min(methods, key=methods.get)
            rule = methods[rule_name(n)]
            if batch == args.rule_batch:
                fastest_at[str(n)] = fastest
                rule_ratios[str(n)] = rule / methods[fastest]
            if with_native:
                native_ratios[f"{batch}x{n}"] = {
                    "native_over_floor": times["native"] / times["x * c"],
                    "rule_over_floor": rule / times["x * c"],
                    "fastest_keras_ops_over_native": methods[fastest] / times["native"],
                }
        print(f"batch {batch} done", flush=True)
    results = {
        "device": device,
        "seconds": seconds,
        "fastest_at_rule_batch": fastest_at,
        "rule_over_fastest": rule_ratios,
        "native": {
            "isa": found["isa"] if with_native else None,
            "ratios": native_ratios,
        },
    }
    write_json(
        pathlib.Path(args.out) / f"fwht_methods_{backend}_{device}.json", results
    )
    return {**results, "repeats": args.repeats, "rule_batch": args.rule_batch}


def report(results):
    print(f"backend {keras.backend.backend()}, device {results['device']}; ", end="")
    print(f"microseconds, median of {results['repeats']}")
    print(f"native kernel: {results['native']['isa'] or 'not run'}")
    header = f"{'n':>6s}  {'x * c':>9s}  {'native':>9s}  {'rule':>9s}  {'fastest':>9s}"
    header += "  rule / fastest  fastest keras.ops method"
    last_batch = None
    for key, times in results["seconds"].items():
        batch, n = map(int, key.split("x"))
        if batch != last_batch:
            print(f"\nbatch {batch}\n{header}")
            last_batch = batch
        methods = keras_ops_methods(times)
        fastest, auto_name = min(methods, key=methods.get), rule_name(n)
        native_time = times.get("native", float("nan"))
        print(
            f"{n:6d}  {times['x * c'] * 1e6:9.1f}  {native_time * 1e6:9.1f}  "
            f"{methods[auto_name] * 1e6:9.1f}  {methods[fastest] * 1e6:9.1f}  "
            f"{methods[auto_name] / methods[fastest]:14.2f}  {fastest} "
            f"({methods[fastest] / times['x * c']:.1f}x x * c; auto: {auto_name})"
        )
    large = [r for n, r in results["rule_over_fastest"].items() if int(n) >= 256]
    if large:
        print(
            f"\nrule / fastest at batch {results['rule_batch']}, n >= 256: worst "
            f"{max(large):.2f}, median {sorted(large)[len(large) // 2]:.2f}"
        )


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
