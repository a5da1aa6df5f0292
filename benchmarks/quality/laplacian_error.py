"""Laplacian-kernel approximation: structured (Fastfood) against dense Cauchy features.

`k(x, y) = exp(-||x - y||_1 / sigma)`, sigma the median L1 distance, 500
points of N(0, I_d): relative Frobenius error of the Gram matrix, mean of 3
seeds, at D feature columns, for
- `McKernel(D / 2, kernel="laplacian")` (cos and sin, Fastfood structure);
- `RandomFourierFeatures(D, "laplacian")`, dense i.i.d. Cauchy W (tf-keras's);
- `RandomFourierFeatures(D, "laplacian", structure="fastfood")`.
Writes docs/benchmarks/laplacian_error.json.
Run: KERAS_BACKEND=jax .venv/bin/python -m benchmarks.quality.laplacian_error [--quick]
"""

import pathlib

import keras
import numpy as np

from benchmarks.harness.results import command_line, markdown_table, write_json
from keras_crosswise.layers import McKernel, RandomFourierFeatures


def features(name, columns, sigma, seed):
    if name == "McKernel (fastfood)":
        return McKernel(columns // 2, kernel="laplacian", sigma=sigma, seed=seed), 1.0
    structure = "fastfood" if "fastfood" in name else "dense"
    layer = RandomFourierFeatures(
        columns, "laplacian", scale=sigma, structure=structure, seed=seed
    )
    return layer, np.sqrt(2 / columns)


NAMES = (
    "McKernel (fastfood)",
    "RandomFourierFeatures (dense)",
    "RandomFourierFeatures (fastfood)",
)


def arguments(parser):
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--columns", type=int, nargs="+", default=[256, 2048, 8192])
    parser.add_argument("--seeds", type=int, default=3)


def run(args):
    points = 500
    if args.quick:
        args.dim, args.columns, args.seeds, points = 8, [16, 64], 1, 40
    x = np.random.default_rng(0).standard_normal((points, args.dim))
    l1 = np.abs(x[:, None] - x[None]).sum(-1)
    sigma = float(np.median(l1[np.triu_indices(points, 1)]))
    exact = np.exp(-l1 / sigma)
    errors = {}
    for columns in args.columns:
        errors[str(columns)] = {}
        for name in NAMES:
            found = []
            for seed in range(args.seeds):
                layer, factor = features(name, columns, sigma, seed)
                z = keras.ops.convert_to_numpy(layer(x.astype("float32")))
                z = z.astype("float64") * factor
                found.append(np.linalg.norm(z @ z.T - exact) / np.linalg.norm(exact))
            errors[str(columns)][name] = float(np.mean(found))
    results = {"dim": args.dim, "points": points, "errors": errors}
    out = pathlib.Path(args.out) / "laplacian_error.json"
    write_json(out, results)
    print(f"wrote {out}")
    return results


def report(results):
    rows = []
    for columns, by_name in results["errors"].items():
        dense = by_name["RandomFourierFeatures (dense)"]
        rows += [
            [columns, name, f"{error:.4f}", f"{error / dense:.2f}"]
            for name, error in by_name.items()
        ]
    print(markdown_table(["D", "features", "relative Gram error", "/ dense"], rows))


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
