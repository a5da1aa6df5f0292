"""Dense vs CZDense vs Fastfood layers on scikit-learn's digits: parameters, accuracy.

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

from keras_crosswise.layers import CZDense, FastfoodDense, McKernel

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


def model_factories(input_dim, czdense_kwargs=None):
    """The compared models, by name, as functions that build a fresh model;
    `czdense_kwargs` go to every CZDense."""
    cz = czdense_kwargs or {}
    dense = keras.layers.Dense

    def sequential(*make_layers):
        return lambda: keras.Sequential(
            [keras.Input((input_dim,))] + [make() for make in make_layers]
        )

    def czdense(units, activation=None):
        return lambda: CZDense(units, activation=activation, **cz)

    return {
        "linear (Dense 10)": sequential(lambda: dense(NUM_CLASSES)),
        "Dense 256-256-10": sequential(
            lambda: dense(256, activation="relu"),
            lambda: dense(256, activation="relu"),
            lambda: dense(NUM_CLASSES),
        ),
        "CZDense 256-256 + Dense 10": sequential(
            czdense(256, "relu"), czdense(256, "relu"), lambda: dense(NUM_CLASSES)
        ),
        "CZDense 256-10 (pure c&z)": sequential(
            czdense(256, "relu"), czdense(NUM_CLASSES)
        ),
        "FastfoodDense 256-256 + Dense 10": sequential(
            lambda: FastfoodDense(256, activation="relu"),
            lambda: FastfoodDense(256, activation="relu"),
            lambda: dense(NUM_CLASSES),
        ),
        "McKernel 512 (fixed) + Dense 10": sequential(
            lambda: McKernel(512, sigma=4.0), lambda: dense(NUM_CLASSES)
        ),
    }


def trainable_count(model):
    """Learned parameters; `count_params()` also counts fixed random weights."""
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


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
    print(
        f"{'model':34s} {'trainable':>9s} {'stored':>7s} {'test accuracy':>16s} "
        f"{'seconds':>8s}"
    )
    for name, make_model in model_factories(data[0].shape[1]).items():
        scores, start = [], time.perf_counter()
        for seed in range(args.seeds):
            keras.utils.set_random_seed(seed)
            model = make_model()
            scores.append(train_and_score(model, data, args.epochs, seed))
        seconds = (time.perf_counter() - start) / args.seeds
        print(
            f"{name:34s} {trainable_count(model):9d} {model.count_params():7d} "
            f"{np.mean(scores):10.4f} ±{np.std(scores):.4f} {seconds:8.1f}"
        )


if __name__ == "__main__":
    main()
