"""Gaussian-kernel approximation: McKernel (two structures), RBFSampler, Nystroem.

For input width d and D output columns: relative Frobenius error
`||Z Z^T - K|| / ||K||` of the features Z against the exact Gaussian Gram
matrix K on 500 points, mean over seeds, with sigma at 0.5x, 1x and 2x the
median pairwise distance, on two kinds of data: N(0, I_d) for d = 64, 1024,
4096, and scikit-learn's digits (d = 64, standardised). At sigma = 1x also
the time to transform those points (fitted beforehand), interleaved medians.
McKernel gets D / 2 frequencies (cos and sin: D columns), with
`structure="fastfood"` (the paper's) and `"orthogonal"`; RBFSampler
`n_components = D` (i.i.d. Gaussian frequencies); Nystroem D landmarks from
4096 other points (D <= 4096). McKernel is jit-compiled on TF/JAX; the draws
are NumPy's, so the errors are the same on every backend, the times are not.
Then accuracy: RidgeClassifier on each feature map at D = 2048 on digits and
MNIST-1D, 5 seeds.
Writes docs/benchmarks/kernel_error_<backend>.json and .png.
Run: KERAS_BACKEND=jax .venv/bin/python -m benchmarks.quality.kernel_error [--quick]
(TensorFlow, PyTorch timings: add --seeds 1 --sigma-factors 1 --no-accuracy)
"""

import pathlib

import keras
import numpy as np
from sklearn.kernel_approximation import Nystroem, RBFSampler
from sklearn.linear_model import RidgeClassifier

from benchmarks.harness import load_digits_split, load_mnist1d
from benchmarks.harness.results import command_line, markdown_table, write_json
from benchmarks.harness.timing import compile_function, interleaved_medians
from keras_crosswise.layers import McKernel

METHODS = ("McKernel fastfood", "McKernel orthogonal", "RBFSampler", "Nystroem")
SIGMA_FACTORS = (0.5, 1.0, 2.0)


def gaussian_gram(x, sigma):
    squared = np.sum(x**2, 1)[:, None] + np.sum(x**2, 1)[None] - 2 * x @ x.T
    return np.exp(-np.maximum(squared, 0) / (2 * sigma**2))


def median_distance(x):
    squared = np.sum(x**2, 1)[:, None] + np.sum(x**2, 1)[None] - 2 * x @ x.T
    return float(np.sqrt(np.median(np.maximum(squared[np.triu_indices(len(x), 1)], 0))))


def numpy_transform(compiled):
    return lambda x: keras.ops.convert_to_numpy(compiled(x.astype("float32")))


def transforms(dim, columns, sigma, seed, landmarks):
    """`name -> fitted transform(x)` for each method at D = `columns`."""
    gamma = 1 / (2 * sigma**2)
    found = {}
    for structure in ("fastfood", "orthogonal"):
        layer = McKernel(columns // 2, sigma=sigma, structure=structure, seed=seed)
        layer.build((None, dim))
        compiled = compile_function(layer)
        found[f"McKernel {structure}"] = lambda x, c=compiled: (
            keras.ops.convert_to_numpy(c(x.astype("float32")))
        )
    sampler = RBFSampler(gamma=gamma, n_components=columns, random_state=seed)
    found["RBFSampler"] = sampler.fit(landmarks).transform
    if columns <= len(landmarks):
        nystroem = Nystroem(gamma=gamma, n_components=columns, random_state=seed)
        found["Nystroem"] = nystroem.fit(landmarks).transform
    return found


def measure(x, landmarks, columns, seeds, repeats, factors=SIGMA_FACTORS):
    """Errors at each sigma factor; transform times at sigma = median distance."""
    dim, median = x.shape[1], median_distance(x)
    result = {}
    for factor in factors:
        sigma = factor * median
        exact = gaussian_gram(x, sigma)
        errors = {}
        for seed in range(seeds):
            methods = transforms(dim, columns, sigma, seed, landmarks)
            for name, transform in methods.items():
                z = transform(x).astype("float64")
                error = np.linalg.norm(z @ z.T - exact) / np.linalg.norm(exact)
                errors.setdefault(name, []).append(float(error))
        result[str(factor)] = {name: float(np.mean(e)) for name, e in errors.items()}
        if factor == 1.0 and repeats:
            seconds = interleaved_medians(
                {name: (lambda t=t: t(x)) for name, t in methods.items()},
                repeats,
                warmup=1,
            )
            result["seconds"] = seconds
    return result


def datasets(dims, points):
    """`name -> (x, landmarks)`: Gaussian data per width, and digits."""
    found = {}
    for dim in dims:
        rng = np.random.default_rng(dim)
        found[f"gaussian d={dim}"] = (
            rng.standard_normal((points, dim)),
            rng.standard_normal((4096 if points > 100 else 2 * points, dim)),
        )
    x_train, x_test, _, _ = load_digits_split()
    found["digits d=64"] = (
        x_test[:points].astype("float64"),
        x_train.astype("float64"),
    )
    return found


def classification(seeds, columns, quick):
    """RidgeClassifier test accuracy on each feature map, sigma = median."""
    tasks = {"digits": load_digits_split()}
    if not quick:
        tasks["MNIST-1D"] = load_mnist1d()
    results = {}
    for task, (x_train, x_test, y_train, y_test) in tasks.items():
        sigma = median_distance(x_train[:1000].astype("float64"))
        scores = {}
        for seed in range(seeds):
            landmarks = x_train.astype("float64")
            methods = transforms(x_train.shape[1], columns, sigma, seed, landmarks)
            for name, transform in methods.items():
                model = RidgeClassifier(alpha=1e-2).fit(transform(x_train), y_train)
                scores.setdefault(name, []).append(
                    model.score(transform(x_test), y_test)
                )
        results[task] = {
            name: {"mean": float(np.mean(s)), "std": float(np.std(s))}
            for name, s in scores.items()
        }
    return results


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    figure, axes = plt.subplots(2, len(names), figsize=(4.2 * len(names), 7))
    axes = np.asarray(axes).reshape(2, len(names))
    for column, data in enumerate(names):
        by_columns = results[data]
        sizes = sorted(int(size) for size in by_columns)
        for name in METHODS:
            have = [s for s in sizes if name in by_columns[str(s)]["1.0"]]
            errors = [by_columns[str(s)]["1.0"][name] for s in have]
            axes[0, column].plot(have, errors, marker="o", label=name)
            timed = [s for s in have if "seconds" in by_columns[str(s)]]
            axes[1, column].plot(
                timed,
                [by_columns[str(s)]["seconds"][name] for s in timed],
                marker="o",
                label=name,
            )
        axes[0, column].set(title=data, ylabel="relative Gram error, sigma = median")
        axes[1, column].set(xlabel="D (feature columns)", ylabel="transform seconds")
        for axis in axes[:, column]:
            axis.set_xscale("log", base=2)
            axis.set_xticks(sizes, [str(size) for size in sizes])
            axis.minorticks_off()
            axis.set_yscale("log")
            axis.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def arguments(parser):
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 1024, 4096])
    parser.add_argument(
        "--columns", type=int, nargs="+", default=[256, 1024, 4096, 16384]
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--sigma-factors", type=float, nargs="+", default=list(SIGMA_FACTORS)
    )
    parser.add_argument(
        "--no-accuracy", action="store_true", help="skip the classifiers"
    )


def run(args):
    if args.quick:
        args.dims, args.columns, args.seeds, args.points = [8], [16, 64], 1, 50
        args.repeats = 1
    backend = keras.backend.backend()
    errors = {}
    for data, (x, landmarks) in datasets(args.dims, args.points).items():
        errors[data] = {}
        for columns in args.columns:
            errors[data][str(columns)] = measure(
                x, landmarks, columns, args.seeds, args.repeats, args.sigma_factors
            )
            print(f"{data}, D {columns} done", flush=True)
    accuracy = {}
    if not args.no_accuracy:
        accuracy = classification(
            1 if args.quick else 5, 64 if args.quick else 2048, args.quick
        )
    results = {
        "points": args.points,
        "seeds": args.seeds,
        "errors": errors,
        "accuracy": accuracy,
    }
    out = pathlib.Path(args.out) / f"kernel_error_{backend}"
    write_json(f"{out}.json", results)
    plot(errors, f"{out}.png")
    print(f"wrote {out}.json and {out}.png")
    return results


def report(results):
    rows, factors = [], None
    for data, by_columns in results["errors"].items():
        for columns, found in by_columns.items():
            factors = [f for f in found if f != "seconds"]
            reference = found["1.0"]["RBFSampler"]
            rows += [
                [
                    data,
                    columns,
                    name,
                    *(f"{found[f][name]:.4f}" for f in factors),
                    f"{found['1.0'][name] / reference:.2f}",
                    f"{found['seconds'][name] * 1e3:.1f}",
                ]
                for name in found["1.0"]
            ]
    header = ["data", "D", "method", *(f"error, sigma {f}x" for f in factors or ())]
    header += ["/ RBFSampler at 1x", f"{keras.backend.backend()} ms"]
    print(markdown_table(header, rows))
    accuracy_rows = [
        [task, name, f"{r['mean']:.4f} ± {r['std']:.4f}"]
        for task, by_name in results["accuracy"].items()
        for name, r in by_name.items()
    ]
    print(markdown_table(["task", "features", "test accuracy"], accuracy_rows))


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
