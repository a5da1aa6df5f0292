"""Largest prediction differences after reload (every backend pair) and export.

Saves the test zoo (tests/model_zoo.py: one small trained model per layer) under
each backend, loads every file under each backend, and exports from each backend
to TF SavedModel (TensorFlow, JAX) and ONNX (all), printing max |difference|.
A check that docs/saving.md quotes, not a test (pytest does not collect it).
Run: .venv/bin/python tests/saving_differences.py   (one process per backend)
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")


def max_difference(a, b):
    return float(abs(a - b).max())


def measure(root):
    """Under the current backend: reload every saved file, export every model."""
    import keras
    import numpy as np
    import onnxruntime

    from model_zoo import LAYERS, build_model, sample_inputs, train

    backend, report = keras.backend.backend(), {}
    for name in LAYERS:
        for source in BACKENDS:
            model = keras.models.load_model(root / source / f"{name}.keras")
            stored = np.load(root / source / f"{name}.npz")
            outputs = keras.ops.convert_to_numpy(model(stored["inputs"]))
            report[f"{name} reload {source}->{backend}"] = max_difference(
                outputs, stored["outputs"]
            )
        model, x = train(build_model(name)), sample_inputs()
        expected = keras.ops.convert_to_numpy(model(x))
        if backend != "torch":
            import tensorflow as tf

            path = root / f"{name}-{backend}-saved"
            model.export(path, format="tf_saved_model", verbose=False)
            loaded = tf.saved_model.load(str(path))
            served = loaded.serve(tf.constant(x)).numpy()
            report[f"{name} savedmodel {backend}"] = max_difference(served, expected)
        path = root / f"{name}-{backend}.onnx"
        model.export(path, format="onnx", verbose=False)
        session = onnxruntime.InferenceSession(str(path))
        served = session.run(None, {session.get_inputs()[0].name: x})[0]
        report[f"{name} onnx {backend}"] = max_difference(served, expected)
    return report


def run(args, backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=True
    ).stdout


def worst(report, layer, kind):
    return max(v for k, v in report.items() if k.startswith(f"{layer} {kind}"))


def main():
    root = pathlib.Path(tempfile.mkdtemp())
    for backend in BACKENDS:
        run(
            [str(ROOT / "tests" / "model_zoo.py"), "save", str(root / backend)], backend
        )
    report = {}
    for backend in BACKENDS:
        output = run([__file__, "--measure", str(root)], backend)
        report.update(json.loads(output.split("REPORT", 1)[1]))
    print(f"{'layer':16s}{'reload (9 pairs)':>18s}{'SavedModel':>12s}{'ONNX':>10s}")
    for layer in sorted({key.split()[0] for key in report}):
        print(
            f"{layer:16s}{worst(report, layer, 'reload'):18.1e}"
            f"{worst(report, layer, 'savedmodel'):12.1e}"
            f"{worst(report, layer, 'onnx'):10.1e}"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print("REPORT" + json.dumps(measure(pathlib.Path(sys.argv[2]))))
    else:
        main()
