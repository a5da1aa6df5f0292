"""Dense vs CZDense on scikit-learn's digits (offline): parameters and accuracy.

Run: python examples/digits_dense_vs_czdense.py [--epochs 60] [--seeds 3]
The backend is Keras's default (TensorFlow) unless KERAS_BACKEND says otherwise.
"""

import argparse
import time

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from keras_crosswise.layers import CZDense

NUM_CLASSES = 10


def load_digits_split(seed=0):
    """Standardised 8x8 digits: 1347 train and 450 test samples of 64 features."""
    features, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.25, random_state=seed, stratify=labels
    )
    scaler = StandardScaler().fit(x_train)
    return (
        scaler.transform(x_train).astype("float32"),
        scaler.transform(x_test).astype("float32"),
        y_train,
        y_test,
    )


def build_models(input_dim, czdense_kwargs=None):
    """The compared models, by name; `czdense_kwargs` go to every CZDense."""
    cz = czdense_kwargs or {}

    def sequential(*hidden):
        return keras.Sequential([keras.Input((input_dim,)), *hidden])

    return {
        "linear (Dense 10)": sequential(keras.layers.Dense(NUM_CLASSES)),
        "Dense 256-256-10": sequential(
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(NUM_CLASSES),
        ),
        "CZDense 256-256 + Dense 10": sequential(
            CZDense(256, activation="relu", **cz),
            CZDense(256, activation="relu", **cz),
            keras.layers.Dense(NUM_CLASSES),
        ),
        "CZDense 256-10 (pure c&z)": sequential(
            CZDense(256, activation="relu", **cz),
            CZDense(NUM_CLASSES, **cz),
        ),
    }


def train_and_score(model, data, epochs, seed):
    """Train with Adam and return the test accuracy."""
    x_train, x_test, y_train, y_test = data
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
    return model.evaluate(x_test, y_test, verbose=0)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    data = load_digits_split()
    print(
        f"backend: {keras.backend.backend()}, digits: {len(data[0])} train, "
        f"{len(data[1])} test, {args.epochs} epochs, {args.seeds} seeds"
    )
    print(f"{'model':30s} {'params':>8s} {'test accuracy':>16s} {'seconds':>8s}")
    names = list(build_models(data[0].shape[1]))
    for name in names:
        scores, start = [], time.perf_counter()
        for seed in range(args.seeds):
            keras.utils.set_random_seed(seed)
            model = build_models(data[0].shape[1])[name]
            scores.append(train_and_score(model, data, args.epochs, seed))
        seconds = (time.perf_counter() - start) / args.seeds
        print(
            f"{name:30s} {model.count_params():8d} "
            f"{np.mean(scores):10.4f} ±{np.std(scores):.4f} {seconds:8.1f}"
        )


if __name__ == "__main__":
    main()
