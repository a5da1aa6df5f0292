"""Dense vs CZDense vs Fastfood layers on scikit-learn's digits: parameters, accuracy.

Six models trained with Adam 1e-3, batch 64, on 1347 of scikit-learn's
digits, scored on the 450 held out.
Run: .venv/bin/python examples/digits_dense_vs_czdense.py [--epochs 60] [--seeds 3]
     [--fast]
The backend is Keras's default (TensorFlow) unless KERAS_BACKEND says otherwise.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import time

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from keras_crosswise.layers import CZDense, FastfoodDense, McKernel


def models():
    """Name -> a function building the model, 64 inputs to 10 logits."""
    dense = keras.layers.Dense

    def stack(*layers):
        return lambda: keras.Sequential([keras.Input((64,)), *(f() for f in layers)])

    return {
        "linear (Dense 10)": stack(lambda: dense(10)),
        "Dense 256-256-10": stack(
            lambda: dense(256, activation="relu"),
            lambda: dense(256, activation="relu"),
            lambda: dense(10),
        ),
        "CZDense 256-256 + Dense 10": stack(
            lambda: CZDense(256, activation="relu"),
            lambda: CZDense(256, activation="relu"),
            lambda: dense(10),
        ),
        "CZDense 256-10 (pure c&z)": stack(
            lambda: CZDense(256, activation="relu"), lambda: CZDense(10)
        ),
        "FastfoodDense 256-256 + Dense 10": stack(
            lambda: FastfoodDense(256, activation="relu"),
            lambda: FastfoodDense(256, activation="relu"),
            lambda: dense(10),
        ),
        "McKernel 512 (fixed) + Dense 10": stack(
            lambda: McKernel(512, sigma=4.0), lambda: dense(10)
        ),
    }


def train_and_score(make_model, data, seed, epochs):
    """(test accuracy, training seconds, the model) for one seed."""
    x_train, x_test, y_train, y_test = data
    keras.utils.set_random_seed(seed)
    model = make_model()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    return model.evaluate(x_test, y_test, verbose=0)[1], seconds, model


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--fast", action="store_true", help="3 epochs, 1 seed: a smoke run"
    )
    args = parser.parse_args()
    if args.fast:
        args.epochs, args.seeds = 3, 1

    x, y = load_digits(return_X_y=True)  # 8x8 images, pixel values 0-16
    data = train_test_split(
        (x / 16).astype("float32"), y, test_size=0.25, random_state=0, stratify=y
    )
    print(
        f"backend: {keras.backend.backend()}, digits: {len(data[0])} train, "
        f"{len(data[1])} test, {args.epochs} epochs, {args.seeds} seed(s)"
    )
    if args.fast:
        print("(--fast: a smoke run; the accuracies below are not the README's)")
    print(
        f"{'model':34s} {'trainable':>9s} {'stored':>7s} {'test accuracy':>16s} "
        f"{'seconds':>8s}"
    )
    for name, make_model in models().items():
        runs = [
            train_and_score(make_model, data, seed, args.epochs)
            for seed in range(args.seeds)
        ]
        scores, seconds, model = [r[0] for r in runs], [r[1] for r in runs], runs[-1][2]
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        spread = f"±{np.std(scores):.4f}" if args.seeds > 1 else " " * 7
        print(
            f"{name:34s} {trainable:9d} {model.count_params():7d} "
            f"{np.mean(scores):9.4f} {spread} {np.mean(seconds):8.1f}"
        )


if __name__ == "__main__":
    main()
