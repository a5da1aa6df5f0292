"""McKernel vs dense Gaussian projections, and FastfoodDense vs Dense parameters.

For input width d (features D = d frequencies), batch 256, times per call:
`fwht` alone, McKernel features, a Keras dense Gaussian projection
(`cos/sin(x @ W)`, W of shape (d, D), jit-compiled like McKernel) and
scikit-learn's RBFSampler.transform (NumPy), interleaved, medians.
Run per backend: KERAS_BACKEND=jax python -m benchmarks.speed.mckernel_speed
"""

import keras
import numpy as np
from sklearn.kernel_approximation import RBFSampler

from benchmarks.harness.baselines import dense_fourier_features
from benchmarks.harness.results import command_line
from benchmarks.harness.timing import (
    compile_function,
    interleaved_medians,
    random_inputs,
)
from keras_crosswise.layers import FastfoodDense, McKernel
from keras_crosswise.ops import fwht


def time_width(width, batch, repeats):
    """Median milliseconds per call of each candidate at input width d."""
    x_np = random_inputs((batch, width))
    x = keras.ops.convert_to_tensor(x_np)
    layer = McKernel(width, sigma=float(np.sqrt(width)), seed=0)
    layer.build((None, width))
    weights = keras.ops.convert_to_tensor(random_inputs((width, width), seed=1))
    sampler = RBFSampler(n_components=width, random_state=0).fit(x_np)
    transform, features = compile_function(fwht), compile_function(layer)
    dense = compile_function(dense_fourier_features)
    times = interleaved_medians(
        {
            "fwht": lambda: transform(x),
            "mckernel": lambda: features(x),
            "dense": lambda: dense(x, weights),
            "rbf": lambda: sampler.transform(x_np),
        },
        repeats,
    )
    return {name: value * 1e3 for name, value in times.items()}


def parameter_counts(width):
    """Dense's parameters and FastfoodDense's trainable ones, `width` to `width`."""
    dense, fastfood = keras.layers.Dense(width), FastfoodDense(width)
    dense.build((None, width))
    fastfood.build((None, width))
    trainable = sum(int(np.prod(w.shape)) for w in fastfood.trainable_weights)
    return dense.count_params(), trainable


def arguments(parser):
    parser.add_argument("--widths", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)


def run(args):
    """Milliseconds per call of each candidate and the parameter counts, per
    width (printed, not written: docs/benchmarks.md keeps the tables)."""
    return {
        "backend": keras.backend.backend(),
        "batch": args.batch,
        "milliseconds": {
            width: time_width(width, args.batch, args.repeats) for width in args.widths
        },
        "parameters": {width: parameter_counts(width) for width in args.widths},
    }


def report(results):
    print(f"backend {results['backend']}, batch {results['batch']}")
    print(
        f"{'d':>6s}{'fwht ms':>10s}{'McKernel ms':>13s}{'Keras dense ms':>16s}"
        f"{'RBFSampler ms':>15s}{'dense/McK':>11s}{'RBF/McK':>9s}"
    )
    for width, ms in results["milliseconds"].items():
        print(
            f"{width:6d}{ms['fwht']:10.2f}{ms['mckernel']:13.2f}{ms['dense']:16.2f}"
            f"{ms['rbf']:15.2f}{ms['dense'] / ms['mckernel']:11.1f}"
            f"{ms['rbf'] / ms['mckernel']:9.1f}"
        )
    print(
        f"\n{'d = units':>10s}{'Dense params':>14s}{'FastfoodDense trainable':>25s}"
        f"{'ratio':>8s}"
    )
    for width, (dense, trainable) in results["parameters"].items():
        print(f"{width:10d}{dense:14,d}{trainable:25,d}{dense / trainable:8.0f}x")


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report, outputs=False)
