"""One model definition, three backends: Keras reads KERAS_BACKEND at import.

Runs a small CZDense/FastfoodDense model on digits in a fresh process for
each backend (TensorFlow, JAX, PyTorch), the way a user switches:
`KERAS_BACKEND=jax python train.py`. Each process prints its backend, test
accuracy and training time; no line of the model code changes.
Run: .venv/bin/python examples/switching_backends.py [--epochs 20] [--fast]
"""

import argparse
import os
import subprocess
import sys

BACKENDS = ("tensorflow", "jax", "torch")


def train_here(epochs):
    """Train under whatever backend this process imported."""
    import time

    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from keras_crosswise.layers import CZDense, FastfoodDense

    x, y = load_digits(return_X_y=True)  # 8x8 images, pixel values 0-16
    x_train, x_test, y_train, y_test = train_test_split(
        (x / 16).astype("float32"), y, test_size=0.25, random_state=0, stratify=y
    )
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            CZDense(256, activation="relu"),
            FastfoodDense(256, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    print(
        f"{keras.backend.backend():10s} test accuracy {accuracy:.3f}, "
        f"{seconds:.1f} s for {epochs} epoch(s)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--fast", action="store_true", help="one epoch: a smoke run")
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    epochs = 1 if args.fast else args.epochs
    if args.here:
        train_here(epochs)
        return
    for backend in BACKENDS:
        subprocess.run(
            [sys.executable, __file__, "--here", "--epochs", str(epochs)],
            env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"},
            check=True,
        )


if __name__ == "__main__":
    main()
