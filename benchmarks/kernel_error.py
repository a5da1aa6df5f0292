"""Gaussian-kernel approximation: McKernel vs RBFSampler and Nystroem.

For input width d and D output columns: relative Frobenius error
`||Z Z^T - K|| / ||K||` of the features Z against the exact Gaussian Gram
matrix K (sigma = sqrt(d)) on 500 points of N(0, I_d), mean over seeds, and
the time to transform those 500 points (fitted beforehand), interleaved
medians. McKernel gets D / 2 frequencies (cos and sin: D columns),
RBFSampler `n_components = D`, Nystroem `n_components = D` landmarks drawn
from 4096 other points (D <= 4096). McKernel is jit-compiled on TF/JAX.
Writes docs/benchmarks/kernel_error_<backend>.json and .png.
Run: KERAS_BACKEND=jax python benchmarks/kernel_error.py [--quick]
"""

import argparse
import pathlib

import keras
import numpy as np
from sklearn.kernel_approximation import Nystroem, RBFSampler

from keras_crosswise.layers import McKernel

from _timing import (
    add_output_arguments,
    compile_function,
    interleaved_medians,
    markdown_table,
    write_json,
)

METHODS = ("McKernel", "RBFSampler", "Nystroem")


def gaussian_gram(x, sigma):
    squared = np.sum(x**2, 1)[:, None] + np.sum(x**2, 1)[None] - 2 * x @ x.T
    return np.exp(-np.maximum(squared, 0) / (2 * sigma**2))


def transforms(dim, columns, seed, landmarks):
    """`name -> fitted transform(x)` for each method at D = `columns`."""
    sigma = float(np.sqrt(dim))
    gamma = 1 / (2 * sigma**2)
    layer = McKernel(columns // 2, sigma=sigma, seed=seed)
    layer.build((None, dim))
    compiled = compile_function(layer)
    sampler = RBFSampler(gamma=gamma, n_components=columns, random_state=seed)
    found = {
        "McKernel": lambda x: keras.ops.convert_to_numpy(compiled(x.astype("float32"))),
        "RBFSampler": sampler.fit(landmarks).transform,
    }
    if columns <= len(landmarks):
        nystroem = Nystroem(gamma=gamma, n_components=columns, random_state=seed)
        found["Nystroem"] = nystroem.fit(landmarks).transform
    return found


def measure(dim, columns, seeds, points, repeats):
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((points, dim))
    landmarks = rng.standard_normal((4096 if points > 100 else 2 * points, dim))
    exact = gaussian_gram(x, np.sqrt(dim))
    errors = {}
    for seed in range(seeds):
        methods = transforms(dim, columns, seed, landmarks)
        for name, transform in methods.items():
            z = transform(x).astype("float64")
            error = np.linalg.norm(z @ z.T - exact) / np.linalg.norm(exact)
            errors.setdefault(name, []).append(float(error))
    seconds = interleaved_medians(
        {name: (lambda t=t: t(x)) for name, t in methods.items()}, repeats, warmup=1
    )
    return {
        name: {"error": float(np.mean(errors[name])), "seconds": seconds[name]}
        for name in methods
    }


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, len(results), figsize=(4.5 * len(results), 7))
    axes = np.asarray(axes).reshape(2, len(results))
    for column, (dim, by_columns) in enumerate(results.items()):
        sizes = sorted(int(size) for size in by_columns)
        for name in METHODS:
            have = [s for s in sizes if name in by_columns[str(s)]]
            for row, key in enumerate(("error", "seconds")):
                axes[row, column].plot(
                    have,
                    [by_columns[str(s)][name][key] for s in have],
                    marker="o",
                    label=name,
                )
        axes[0, column].set(title=f"d = {dim}", ylabel="relative Gram error")
        axes[1, column].set(xlabel="D (feature columns)", ylabel="seconds, 500 points")
        for axis in axes[:, column]:
            axis.set_xscale("log", base=2)
            axis.set_xticks(sizes, [str(size) for size in sizes])
            axis.set_yscale("log")
            axis.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 1024, 4096])
    parser.add_argument(
        "--columns", type=int, nargs="+", default=[256, 1024, 4096, 16384]
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    add_output_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.dims, args.columns, args.seeds, args.points = [8], [16, 64], 1, 50
        args.repeats = 1
    backend = keras.backend.backend()
    results, rows = {}, []
    for dim in args.dims:
        results[str(dim)] = {}
        for columns in args.columns:
            found = measure(dim, columns, args.seeds, args.points, args.repeats)
            results[str(dim)][str(columns)] = found
            rows += [
                [
                    backend,
                    dim,
                    columns,
                    name,
                    f"{r['error']:.4f}",
                    f"{r['seconds'] * 1e3:.1f}",
                ]
                for name, r in found.items()
            ]
            print(f"d {dim}, D {columns} done", flush=True)
    header = ["backend", "d", "D", "method", "relative Gram error", "transform ms"]
    print(markdown_table(header, rows))
    out = pathlib.Path(args.out) / f"kernel_error_{backend}"
    write_json(f"{out}.json", {"points": args.points, "seeds": args.seeds, **results})
    plot(results, f"{out}.png")
    print(f"wrote {out}.json and {out}.png")


if __name__ == "__main__":
    main()
