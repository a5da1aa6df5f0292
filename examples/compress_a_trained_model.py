"""Compress a trained Keras model, save it, reload it elsewhere, serve it.

1. trains a digits MLP 64-1024-1024-10 (1.1M parameters) as the teacher;
2. `keras_crosswise.compress` swaps its hidden 1024 x 1024 Dense layer for a
   FastfoodDense (fitted to the teacher, then distilled) and prints the
   report;
3. saves the student as `.keras`, reloads it in a fresh process under another
   backend (default: JAX, or TensorFlow when already on JAX), comparing
   predictions;
4. exports it to ONNX and serves a prediction with onnxruntime.

Run: .venv/bin/python examples/compress_a_trained_model.py [--epochs 30]
     [--other-backend torch] [--fast]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras
import numpy as np

import keras_crosswise
from keras_crosswise.experiments import load_digits_split, trainable_count
from keras_crosswise.experiments.serving import (
    other_backend,
    save_and_reload_elsewhere,
    serve_with_onnxruntime,
)


def accuracy(model, x, y):
    return float(np.mean(model.predict(x, verbose=0).argmax(axis=-1) == y))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--other-backend", default=None)
    parser.add_argument("--fast", action="store_true", help="few epochs: a smoke run")
    args = parser.parse_args()
    teacher_epochs, distil_epochs = (3, 3) if args.fast else (args.epochs,) * 2
    backend = keras.backend.backend()
    other = other_backend(args.other_backend)
    if args.fast:
        print("--fast: 3 epochs each, a smoke run; figures are not final")

    x_train, x_test, y_train, y_test = load_digits_split()
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential(
        [
            keras.Input((x_train.shape[1],)),
            keras.layers.Dense(1024, activation="relu"),
            keras.layers.Dense(1024, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    teacher.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    teacher.fit(x_train, y_train, batch_size=128, epochs=teacher_epochs, verbose=0)
    print(
        f"teacher under {backend}: {trainable_count(teacher):,} parameters, "
        f"test accuracy {accuracy(teacher, x_test, y_test):.4f}"
    )

    student = keras_crosswise.compress(
        teacher, x_train, y_train, into="fastfood", epochs=distil_epochs, seed=0
    )
    print(
        f"student: {trainable_count(student):,} parameters, "
        f"test accuracy {accuracy(student, x_test, y_test):.4f}"
    )

    _, size, difference = save_and_reload_elsewhere(student, x_test, other)
    print(
        f"saved ({size / 1e6:.2f} MB), reloaded under {other}: "
        f"max |difference| {difference:.2e}"
    )

    logits, difference = serve_with_onnxruntime(student, x_test[:1])
    print(
        f"onnxruntime: predicted class {int(logits.argmax())} (label "
        f"{int(y_test[0])}), max |difference| {difference:.2e}"
    )


if __name__ == "__main__":
    main()
