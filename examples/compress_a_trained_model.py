"""Compress a trained Keras model, save it, reload it elsewhere, serve it.

1. trains a digits MLP 64-1024-1024-10 (1.1M parameters) as the teacher;
2. `keras_crosswise.compress` swaps its hidden 1024 x 1024 Dense layer for a
   FastfoodDense (fitted to the teacher, then distilled) and prints the
   report;
3. saves the student as `.keras` and loads it back, as a server would;
4. exports it to ONNX and serves a prediction with onnxruntime.
(`save_and_serve.py` shows the reload under another backend.)

Run: .venv/bin/python examples/compress_a_trained_model.py [--epochs 30] [--fast]
"""

import argparse
import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras
import numpy as np
import onnxruntime
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import keras_crosswise


def accuracy(model, x, y):
    return float(np.mean(model.predict(x, verbose=0).argmax(axis=-1) == y))


def trainable_count(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--fast", action="store_true", help="few epochs: a smoke run")
    args = parser.parse_args()
    teacher_epochs, distil_epochs = (3, 3) if args.fast else (args.epochs,) * 2
    backend = keras.backend.backend()
    if args.fast:
        print("--fast: 3 epochs each, a smoke run; figures are not final")

    x, y = load_digits(return_X_y=True)  # 8x8 images, pixel values 0-16
    x_train, x_test, y_train, y_test = train_test_split(
        (x / 16).astype("float32"), y, test_size=0.25, random_state=0, stratify=y
    )
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
        teacher,
        x_train,
        y_train,
        into="fastfood",
        epochs=distil_epochs,
        seed=0,
        verbose=0,  # no progress bars: the report below says what happened
    )
    print(student.compression_report)
    print(
        f"student: {trainable_count(student):,} parameters, "
        f"test accuracy {accuracy(student, x_test, y_test):.4f}"
    )

    expected = student.predict(x_test, verbose=0)
    path = pathlib.Path(tempfile.mkdtemp()) / "student.keras"
    student.save(path)
    reloaded = keras.models.load_model(path)
    difference = np.abs(reloaded.predict(x_test, verbose=0) - expected).max()
    print(
        f"saved ({path.stat().st_size / 1e6:.2f} MB), reloaded under {backend}: "
        f"max |difference| {difference:.2e}"
    )

    # Keras's ONNX exporter needs a model that was called directly: on JAX,
    # `predict` runs a compiled stateless call, which does not count.
    reloaded(x_test[:1])
    reloaded.export(path.with_suffix(".onnx"), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(path.with_suffix(".onnx"))
    logits = session.run(None, {session.get_inputs()[0].name: x_test[:1]})[0]
    print(
        f"onnxruntime: predicted class {int(logits.argmax())} (label "
        f"{int(y_test[0])}), max |difference| {np.abs(logits - expected[:1]).max():.2e}"
    )


if __name__ == "__main__":
    main()
