"""Quickstart: swap the Dense layers of a Sequential model for cheap ones.

Trains a Dense MLP and the same model built from CZDense and FastfoodDense on
scikit-learn's digits, prints parameters and test accuracy, then saves the
small model to `.keras` and loads it back.
Run: .venv/bin/python examples/quickstart.py [--epochs 30] [--fast]
"""

import argparse
import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import keras_crosswise  # noqa: F401 - registers the layers for load_model
from keras_crosswise.layers import CZDense, FastfoodDense


def dense_model():
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def crosswise_model():
    return keras.Sequential(
        [
            keras.Input((64,)),
            # 64 -> 512: eight diagonal blocks stacked, 512 weights (not 32,768).
            CZDense(512, activation="relu"),
            # 512 -> 512 with every feature mixed: about 3 * 512 weights.
            FastfoodDense(512, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--fast", action="store_true", help="one epoch: a smoke run")
    args = parser.parse_args()
    epochs = 1 if args.fast else args.epochs
    x, y = load_digits(return_X_y=True)  # 8x8 images, pixel values 0-16
    x_train, x_test, y_train, y_test = train_test_split(
        (x / 16).astype("float32"), y, test_size=0.25, random_state=0, stratify=y
    )
    print(f"backend: {keras.backend.backend()}, {epochs} epoch(s)")
    for name, make in (
        ("Dense", dense_model),
        ("CZDense + FastfoodDense", crosswise_model),
    ):
        keras.utils.set_random_seed(0)
        model = make()
        model.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
        accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
        params = model.count_params()
        print(f"{name:24s} {params:8,d} params, test accuracy {accuracy:.3f}")

    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "crosswise.keras"
        model.save(path)
        reloaded = keras.models.load_model(path)
        difference = np.abs(
            keras.ops.convert_to_numpy(reloaded(x_test))
            - keras.ops.convert_to_numpy(model(x_test))
        ).max()
    print(f"saved and reloaded: max |difference| of the logits {difference:.2e}")


if __name__ == "__main__":
    main()
