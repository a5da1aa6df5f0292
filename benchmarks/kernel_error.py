"""Gram-matrix error of McKernel features vs RBFSampler, against the exact kernel.

Relative Frobenius error ||Z Z^T - K|| / ||K|| on 500 points of N(0, I_d),
sigma = sqrt(d), at the same number of output columns (McKernel D frequencies
give 2D columns; RBFSampler gets n_components = 2D), mean over seeds.
Run: python benchmarks/kernel_error.py [--dims 16 64] [--features 1024 8192]
"""

import argparse

import keras
import numpy as np
from sklearn.kernel_approximation import RBFSampler

from keras_crosswise.layers import McKernel


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dims", type=int, nargs="+", default=[16, 64, 784])
    parser.add_argument("--features", type=int, nargs="+", default=[1024, 8192])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(f"backend {keras.backend.backend()}, 500 points, {args.seeds} seeds")
    print(f"{'d':>5s}{'D':>7s}{'McKernel':>10s}{'RBFSampler':>12s}{'ratio':>7s}")
    rng = np.random.default_rng(0)
    for dim in args.dims:
        x = rng.standard_normal((500, dim))
        sigma = float(np.sqrt(dim))
        squared = np.sum(x**2, 1)[:, None] + np.sum(x**2, 1)[None] - 2 * x @ x.T
        exact = np.exp(-squared / (2 * sigma**2))
        for size in args.features:
            ours, theirs = [], []
            for seed in range(args.seeds):
                z = keras.ops.convert_to_numpy(
                    McKernel(size, sigma=sigma, seed=seed)(x.astype("float32"))
                ).astype("float64")
                ours.append(np.linalg.norm(z @ z.T - exact) / np.linalg.norm(exact))
                sampler = RBFSampler(
                    gamma=1 / (2 * sigma**2), n_components=2 * size, random_state=seed
                )
                z = sampler.fit_transform(x)
                theirs.append(np.linalg.norm(z @ z.T - exact) / np.linalg.norm(exact))
            print(
                f"{dim:5d}{size:7d}{np.mean(ours):10.4f}{np.mean(theirs):12.4f}"
                f"{np.mean(ours) / np.mean(theirs):7.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
