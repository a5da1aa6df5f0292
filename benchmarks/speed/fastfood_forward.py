"""One FastfoodDense forward against the memory floor and Dense, per backend.

Times, interleaved in one process (median of repeats), on a `(batch, width)`
float32 input: `x * c` (an elementwise multiply, the memory floor), the
layer's forward (jit-compiled on JAX and TensorFlow, eager with no gradient
on PyTorch, as `predict` runs it), and a `Dense(width)` forward; for each
`fwht` path the backend has on this device: the native kernel where it is
built (`method="auto"` on a CPU; on TensorFlow `predict_on_batch` without XLA,
as XLA compiles no custom op) and the `keras.ops` path (`KERAS_CROSSWISE_NATIVE=0`
in a second process would give the same).
Writes docs/benchmarks/fastfood_forward_<backend>.json.

    KERAS_BACKEND=jax taskset -c 0 python -m benchmarks.speed.fastfood_forward
"""

import pathlib

import keras
import numpy as np

from benchmarks.harness.results import command_line, write_json
from benchmarks.harness.timing import (
    compile_function,
    interleaved_medians,
    random_inputs,
    without_native,
)
from keras_crosswise import native
from keras_crosswise.layers import FastfoodDense
from keras_crosswise.ops import hadamard


def forward(model, native_route=False):
    if keras.backend.backend() == "tensorflow" and native_route:
        # The kernel serves eager calls and Keras's own step functions, not
        # XLA nor a tf.function of ours (it might be saved): Keras's predict
        # step, without XLA (its output copied to NumPy, about 0.5 ms at
        # 256 x 4096). An eager call pays TensorFlow's per-op dispatch.
        model.compile(jit_compile=False)
        return model.predict_on_batch
    if keras.backend.backend() == "torch":
        import torch

        def call(x):
            with torch.no_grad():
                return model(x)

        return call
    return compile_function(lambda x: model(x))


def measure(width, batch, repeats):
    x = keras.ops.convert_to_tensor(random_inputs((batch, width)))
    c = keras.ops.convert_to_tensor(random_inputs((width,), seed=1))
    fastfood = keras.Sequential([keras.Input((width,)), FastfoodDense(width, seed=0)])
    dense = keras.Sequential([keras.Input((width,)), keras.layers.Dense(width)])
    floor = compile_function(lambda v: v * c)
    dense_forward, fastfood_forward = forward(dense), forward(fastfood, True)
    candidates = {"x * c": lambda: floor(x), "Dense": lambda: dense_forward(x)}
    native_on = native.status()["available"] and hadamard.device_kind() == "cpu"
    if native_on:
        candidates["FastfoodDense, native"] = lambda: fastfood_forward(x)
    with native.disabled():
        portable = forward(fastfood)  # traced on its first call, inside the patch

    portable_call = without_native(lambda: portable(x))
    candidates["FastfoodDense, keras.ops"] = portable_call
    # The two paths time one layer: their outputs agree (largest relative
    # difference), or the comparison means nothing.
    difference = None
    if native_on:
        fast, slow = (
            keras.ops.convert_to_numpy(call()).astype("float64")
            for call in (lambda: fastfood_forward(x), portable_call)
        )
        difference = float(np.max(np.abs(fast - slow)) / np.max(np.abs(slow)))
    return interleaved_medians(candidates, repeats), difference


def arguments(parser):
    parser.add_argument("--widths", type=int, nargs="*", default=[1024, 4096])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)


def run(args):
    if args.quick:
        args.widths, args.repeats = [256], 3
    backend = keras.backend.backend()
    found = native.status()
    widths = {}
    for width in args.widths:
        times, difference = measure(width, args.batch, args.repeats)
        floor = times["x * c"]
        widths[str(width)] = {
            "seconds": times,
            "over_floor": {name: t / floor for name, t in times.items()},
            "native_vs_keras_ops": difference,
        }
        print(f"width {width} done", flush=True)
    results = {"batch": args.batch, "native_isa": found["isa"], "widths": widths}
    write_json(pathlib.Path(args.out) / f"fastfood_forward_{backend}.json", results)
    return {**results, "backend": backend, "repeats": args.repeats}


def report(results):
    isa = results["native_isa"] or "not built"
    print(f"backend {results['backend']}; native kernel: {isa}")
    print(f"batch {results['batch']}; milliseconds, median of {results['repeats']}")
    for width, found in results["widths"].items():
        times, over = found["seconds"], found["over_floor"]
        cells = ", ".join(
            f"{name} {t * 1e3:.3f} ms ({over[name]:.1f}x)" for name, t in times.items()
        )
        print(f"width {width}: {cells}")


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
