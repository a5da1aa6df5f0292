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
import pathlib
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras
import numpy as np
import onnxruntime
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from keras_crosswise.layers import CZDense, FastfoodDense

# What a server process runs: import keras_crosswise (it registers the layers),
# then load the file, on whatever backend KERAS_BACKEND names.
RELOAD = """
import sys, keras, numpy as np
import keras_crosswise
model = keras.models.load_model(sys.argv[1])
data = np.load(sys.argv[2])
print(np.abs(keras.ops.convert_to_numpy(model(data["x"])) - data["y"]).max())
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--other-backend", default=None)
    parser.add_argument("--fast", action="store_true", help="one epoch: a smoke run")
    args = parser.parse_args()
    if args.fast:
        args.epochs = 1
    backend = keras.backend.backend()
    other = args.other_backend or ("tensorflow" if backend == "jax" else "jax")

    x, y = load_digits(return_X_y=True)  # 8x8 images, pixel values 0-16
    x_train, x_test, y_train, y_test = train_test_split(
        (x / 16).astype("float32"), y, test_size=0.25, random_state=0, stratify=y
    )
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

    folder = pathlib.Path(tempfile.mkdtemp())
    model.save(folder / "model.keras")
    np.savez(folder / "expected.npz", x=x_test, y=model.predict(x_test, verbose=0))
    reload = subprocess.run(
        [sys.executable, "-c", RELOAD, folder / "model.keras", folder / "expected.npz"],
        env={**os.environ, "KERAS_BACKEND": other},
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"reloaded under {other}: max |difference| {float(reload.stdout):.2e}")

    model.export(folder / "model.onnx", format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(folder / "model.onnx")
    inputs = {session.get_inputs()[0].name: x_test[:1]}
    logits = session.run(None, inputs)[0]
    difference = np.abs(logits - model.predict(x_test[:1], verbose=0)).max()
    print(
        f"onnxruntime: predicted class {int(logits.argmax())} (label "
        f"{int(y_test[0])}), max |difference| {difference:.2e}"
    )


if __name__ == "__main__":
    main()
