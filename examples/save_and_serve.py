"""Train, save, reload under another backend, export to ONNX and serve.

1. trains a FastfoodDense + CZDense model on digits under the current backend;
2. saves it as `.keras` and reloads it in a fresh process under another backend
   (default: JAX, or TensorFlow when already on JAX), comparing predictions;
3. exports it to ONNX and serves a prediction with onnxruntime.

Run: .venv/bin/python examples/save_and_serve.py [--epochs 20] [--other-backend torch]
     [--fast]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras

from keras_crosswise.experiments import load_digits_split
from keras_crosswise.experiments.serving import (
    other_backend,
    save_and_reload_elsewhere,
    serve_with_onnxruntime,
)
from keras_crosswise.layers import CZDense, FastfoodDense


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--other-backend", default=None)
    parser.add_argument("--fast", action="store_true", help="one epoch: a smoke run")
    args = parser.parse_args()
    if args.fast:
        args.epochs = 1
    backend = keras.backend.backend()
    other = other_backend(args.other_backend)

    x_train, x_test, y_train, y_test = load_digits_split()
    model = keras.Sequential(
        [
            keras.Input((x_train.shape[1],)),
            FastfoodDense(256, activation="relu", seed=0),
            CZDense(256, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    print(f"trained under {backend}: test accuracy {accuracy:.4f}")

    _, _, difference = save_and_reload_elsewhere(model, x_test, other)
    print(f"reloaded under {other}: max |difference| {difference:.2e}")

    logits, difference = serve_with_onnxruntime(model, x_test[:1])
    print(
        f"onnxruntime: predicted class {int(logits.argmax())} (label "
        f"{int(y_test[0])}), max |difference| {difference:.2e}"
    )


if __name__ == "__main__":
    main()
