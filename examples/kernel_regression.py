"""Kernel regression with McKernel features, against exact kernel ridge.

Friedman's regression problem #1 (`sklearn.datasets.make_friedman1`, 10
features, generated locally). Three fits of a Gaussian-kernel ridge model:
- exact `KernelRidge` (scikit-learn): O(n^2) memory, O(n^3) time;
- `McKernelSampler` + `Ridge` in a scikit-learn pipeline;
- a Keras model, `McKernel` features + `Dense(1)`, trained by `fit`.
Prints the test R^2 and the fit time of each.
Run: .venv/bin/python examples/kernel_regression.py [--samples 4000] [--features 2048]
     [--fast]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from keras_crosswise.layers import McKernel
from keras_crosswise.sklearn import McKernelSampler

SIGMA = 3.0  # length scale on standardised inputs
ALPHA = 1e-2  # ridge penalty


def keras_regressor(num_features, epochs):
    model = keras.Sequential(
        [
            keras.Input((10,)),
            McKernel(num_features // 2, sigma=SIGMA, seed=0),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model, {"epochs": epochs, "batch_size": 128, "verbose": 0}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--features", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--fast", action="store_true", help="1000 samples, 512 columns: a smoke run"
    )
    args = parser.parse_args()
    if args.fast:
        args.samples, args.features, args.epochs = 1000, 512, 200
    x, y = make_friedman1(n_samples=args.samples, noise=1.0, random_state=0)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    print(
        f"backend: {keras.backend.backend()}, {len(x_train)} train, "
        f"{len(x_test)} test, D = {args.features} feature columns"
    )
    if args.fast:
        print(
            "(--fast: a smoke run on 1000 samples and 512 feature columns; run "
            "without --fast for the figures to quote: 4000 samples, 2048 columns, "
            "100 epochs of the Keras fit)"
        )
    gamma = 1 / (2 * SIGMA**2)
    candidates = {
        "exact KernelRidge": KernelRidge(alpha=ALPHA, kernel="rbf", gamma=gamma),
        "McKernelSampler + Ridge": make_pipeline(
            McKernelSampler(args.features, sigma=SIGMA, random_state=0),
            Ridge(alpha=ALPHA),
        ),
    }
    for name, estimator in candidates.items():
        start = time.perf_counter()
        estimator.fit(x_train, y_train)
        seconds = time.perf_counter() - start
        score = r2_score(y_test, estimator.predict(x_test))
        print(f"{name:28s} test R^2 {score:.3f}, fit {seconds:.2f} s")

    keras.utils.set_random_seed(0)
    model, fit_args = keras_regressor(args.features, args.epochs)
    start = time.perf_counter()
    model.fit(x_train.astype("float32"), y_train.astype("float32"), **fit_args)
    seconds = time.perf_counter() - start
    predicted = np.asarray(model.predict(x_test.astype("float32"), verbose=0))[:, 0]
    print(
        f"{'McKernel + Dense(1), fit':28s} test R^2 {r2_score(y_test, predicted):.3f}, "
        f"fit {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
