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

import argparse
import pathlib

import keras

from benchmarks.harness.results import add_output_arguments, write_json
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_output_arguments(parser)
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 32, 256, 4096])
    parser.add_argument("--max-log-n", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rule-batch", type=int, default=256)
    args = parser.parse_args()
    if args.quick:
        args.batches, args.max_log_n, args.repeats = [args.rule_batch], 8, 2
    backend, device = keras.backend.backend(), device_kind()
    found = native.status()
    with_native = found["available"] and device == "cpu"
    print(f"backend {backend}, device {device}; microseconds, median of {args.repeats}")
    print(f"native kernel: {found['isa'] if with_native else found['reason']}")
    seconds, fastest_at, rule_ratios, native_ratios = {}, {}, {}, {}
    for batch in args.batches:
        print(f"\nbatch {batch}")
        print(
            f"{'n':>6s}  {'x * c':>9s}  {'native':>9s}  {'rule':>9s}  {'fastest':>9s}  "
            "rule / fastest  fastest keras.ops method"
        )
        for log_n in range(4, args.max_log_n + 1):
            n = 2**log_n
            if batch * n > MAX_ELEMENTS:
                continue
            times = measure(n, batch, args.repeats, with_native)
            seconds[f"{batch}x{n}"] = times
            methods = {k: v for k, v in times.items() if k not in ("x * c", "native")}
            fastest = min(methods, key=methods.get)
            method, max_factor = resolve_method(n)
            auto_name = kronecker_name(n, max_factor) if max_factor else method
            ratio = methods[auto_name] / methods[fastest]
            if batch == args.rule_batch:
                fastest_at[str(n)] = fastest
                rule_ratios[str(n)] = ratio
            native_time = times.get("native", float("nan"))
            if with_native:
                native_ratios[f"{batch}x{n}"] = {
                    "native_over_floor": native_time / times["x * c"],
                    "rule_over_floor": methods[auto_name] / times["x * c"],
                    "fastest_keras_ops_over_native": methods[fastest] / native_time,
                }
            print(
                f"{n:6d}  {times['x * c'] * 1e6:9.1f}  {native_time * 1e6:9.1f}  "
                f"{methods[auto_name] * 1e6:9.1f}  "
                f"{methods[fastest] * 1e6:9.1f}  {ratio:14.2f}  {fastest} "
                f"({methods[fastest] / times['x * c']:.1f}x x * c; auto: {auto_name})",
                flush=True,
            )
    large = [r for n, r in rule_ratios.items() if int(n) >= 256]
    if large:
        print(
            f"\nrule / fastest at batch {args.rule_batch}, n >= 256: worst "
            f"{max(large):.2f}, median {sorted(large)[len(large) // 2]:.2f}"
        )
    out = pathlib.Path(args.out)
    write_json(
        out / f"fwht_methods_{backend}_{device}.json",
        {
            "device": device,
            "seconds": seconds,
            "fastest_at_rule_batch": fastest_at,
            "rule_over_fastest": rule_ratios,
            "native": {
                "isa": found["isa"] if with_native else None,
                "ratios": native_ratios,
            },
        },
    )


if __name__ == "__main__":
    main()
