"""Save, reload under another backend, serve with onnxruntime: the round trip
the serving examples show."""

import os
import pathlib
import subprocess
import sys
import tempfile

import keras
import numpy as np

_RELOAD = """
import sys, keras, numpy as np
import keras_crosswise  # registers the layers: import it before loading
model = keras.models.load_model(sys.argv[1])
data = np.load(sys.argv[2])
print(np.abs(keras.ops.convert_to_numpy(model(data["x"])) - data["y"]).max())
"""


def other_backend(backend=None):
    """The backend to reload under: `backend`, or JAX (TensorFlow from JAX)."""
    current = keras.backend.backend()
    return backend or ("tensorflow" if current == "jax" else "jax")


def save_and_reload_elsewhere(model, x, backend, folder=None):
    """Save `model` as `.keras`, load it in a fresh process under `backend`
    and return `(path, bytes, max |difference|)` of its outputs on `x`."""
    folder = pathlib.Path(folder or tempfile.mkdtemp())
    path = folder / f"{model.name}.keras"
    model.save(path)
    expected = keras.ops.convert_to_numpy(model(x))
    np.savez(folder / "expected.npz", x=x, y=expected)
    reload = subprocess.run(
        [sys.executable, "-c", _RELOAD, str(path), str(folder / "expected.npz")],
        env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        check=True,
    )
    return path, path.stat().st_size, float(reload.stdout)


def serve_with_onnxruntime(model, x, folder=None):
    """Export `model` to ONNX, run `x` through onnxruntime; returns the
    outputs and their max |difference| from `model(x)`."""
    import onnxruntime

    expected = keras.ops.convert_to_numpy(model(x))  # export needs a called model
    path = pathlib.Path(folder or tempfile.mkdtemp()) / f"{model.name}.onnx"
    model.export(path, format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(path))
    outputs = session.run(None, {session.get_inputs()[0].name: x})[0]
    return outputs, float(np.abs(outputs - expected).max())
