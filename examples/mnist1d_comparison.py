"""MNIST-1D: the reference MLP against smaller models built from our layers.

MNIST-1D (Greydanus, 2020) is generated on this machine by the `mnist1d`
package: 4000 train and 1000 test sequences of 40 features, 10 classes; no
download. Every model is trained with the reference recipe (Adam 1e-2,
batch 100, 6000 steps) and scored on the test set.
Run: .venv/bin/python examples/mnist1d_comparison.py [--steps 6000] [--seeds 1]
     [--fast]
The backend is Keras's default (TensorFlow) unless KERAS_BACKEND says otherwise.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import math
import time

import keras
import numpy as np
from mnist1d.data import get_dataset_args, make_dataset

from keras_crosswise.layers import CZDense, FastfoodDense, McKernel


def residual_mlp(width=100, middle=keras.layers.Dense):
    """The MNIST-1D reference MLP, `h = relu(W1 x); h = h + relu(W2 h); W3 h`,
    with `middle` (Dense, CZDense or FastfoodDense) as W2; 10 logits."""
    inputs = keras.Input((40,))
    hidden = keras.layers.Dense(width, activation="relu")(inputs)
    residual = middle(width, activation="relu")(hidden)
    hidden = keras.layers.Add()([hidden, residual])
    return keras.Model(inputs, keras.layers.Dense(10)(hidden))


def models():
    """Name -> a function building the model, 40 inputs to 10 logits."""

    def stack(*layers):
        return keras.Sequential([keras.Input((40,)), *layers])

    return {
        "logistic regression": lambda: stack(keras.layers.Dense(10)),
        "MLP 100-100 (reference)": residual_mlp,
        "CZDense 400-400-10 (pure c&z)": lambda: stack(
            CZDense(400, activation="relu"),
            CZDense(400, activation="relu"),
            CZDense(10),
        ),
        "FastfoodDense 256-256-10": lambda: stack(
            FastfoodDense(256, activation="relu"),
            FastfoodDense(256, activation="relu"),
            FastfoodDense(10),
        ),
        "McKernel 1024 (fixed) + linear": lambda: stack(
            McKernel(1024, sigma=math.sqrt(40)), keras.layers.Dense(10)
        ),
        "MLP 100-100, CZDense middle": lambda: residual_mlp(middle=CZDense),
        "MLP 100-100, FastfoodDense middle": lambda: residual_mlp(middle=FastfoodDense),
    }


def train_and_score(make_model, data, seed, steps, batch_size=100):
    """(test accuracy, training seconds, the model): Adam 1e-2, `steps` steps.
    On TensorFlow and JAX one compiled call runs a whole epoch."""
    x_train, x_test, y_train, y_test = data
    keras.utils.set_random_seed(seed)
    model = make_model()
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    torch = keras.backend.backend() == "torch"
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=1 if torch else steps_per_epoch,
    )
    epochs = max(1, round(steps / steps_per_epoch))
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    return model.evaluate(x_test, y_test, verbose=0)[1], seconds, model


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument(
        "--fast", action="store_true", help="400 steps, 1 seed: a smoke run"
    )
    args = parser.parse_args()
    if args.fast:
        args.steps, args.seeds = 400, 1
    if keras.backend.backend() == "tensorflow":
        # Each of the seven models traces its own functions once; TensorFlow
        # would warn about "retracing" for every model after the fifth.
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    generated = make_dataset(get_dataset_args())  # default arguments, offline
    data = (
        generated["x"].astype("float32"),
        generated["x_test"].astype("float32"),
        generated["y"],
        generated["y_test"],
    )
    print(
        f"backend: {keras.backend.backend()}, MNIST-1D: {len(data[0])} train, "
        f"{len(data[1])} test, {args.steps} steps, {args.seeds} seed(s)"
    )
    if args.fast:
        print("(--fast: a smoke run, 1/15 of the reference steps)")
    print(f"{'model':36s} {'trainable':>9s} {'test accuracy':>16s} {'seconds':>8s}")
    for name, make_model in models().items():
        runs = [
            train_and_score(make_model, data, seed, args.steps)
            for seed in range(args.seeds)
        ]
        scores, seconds, model = [r[0] for r in runs], [r[1] for r in runs], runs[-1][2]
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        spread = f"±{np.std(scores):.4f}" if args.seeds > 1 else " " * 7
        print(
            f"{name:36s} {trainable:9d} "
            f"{np.mean(scores):9.4f} {spread} {np.mean(seconds):8.1f}"
        )


if __name__ == "__main__":
    main()
