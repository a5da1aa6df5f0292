"""Every `export` format Keras accepts, from every backend, served by the
format's own runtime: `tf.saved_model.load`, onnxruntime, the OpenVINO runtime
with an f32 precision hint, the LiteRT interpreter and the torch.export program.

One model holds every layer of the zoo; its exports must give the Keras model's
outputs within 1e-5 at batches 1, 3 and 256. Where Keras refuses or fails a
combination for a plain Dense model too, the cell is a strict xfail naming the
Keras behaviour, and a workaround is tested beside it (docs/serving.md)."""

import keras
import numpy as np
import pytest

from keras_crosswise.layers import FastfoodDense

from layer_checks import to_numpy
from model_zoo import (
    INPUT_DIM,
    TOLERANCE,
    build_every_layer_model,
    build_model,
    sample_inputs,
    train,
)

BACKEND = keras.backend.backend()
BATCHES = (1, 3, 256)
MATRIX_TOLERANCE = 1e-5
FILE_NAMES = {
    "tf_saved_model": "saved_model",
    "onnx": "model.onnx",
    "openvino": "model.xml",
    "litert": "model.tflite",
    "torch": "model.pt2",
}
# (backend, format): what Keras 3.15 does, for a plain Dense model too.
KERAS_FAILS = {
    ("jax", "openvino"): "OpenVINO has no conversion rule for jax2tf's XlaCallModule",
    ("jax", "litert"): "Keras: 'LiteRT export requires TensorFlow or PyTorch backend'",
    ("jax", "torch"): "Keras: 'Torch export requires PyTorch backend'",
    ("tensorflow", "torch"): "Keras: 'Torch export requires PyTorch backend'",
    ("torch", "tf_saved_model"): "Keras's torch ExportArchive passes torch.export "
    "dynamic_shapes that do not match its inputs",
}


def serve_tf_saved_model(path):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return lambda x: loaded.serve(tf.constant(x)).numpy()


def serve_onnx(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path))
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def serve_openvino(path):
    import openvino

    # OpenVINO runs in bf16 by default on CPUs that support it (5e-3 off).
    compiled = openvino.Core().compile_model(
        str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    return lambda x: compiled(x)[0]


def serve_litert(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))

    def serve(x):
        entry = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(entry["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(entry["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    return serve


def serve_torch(path):
    import torch

    program = torch.export.load(str(path)).module()
    return lambda x: program(torch.from_numpy(x)).detach().numpy()


SERVERS = {
    "tf_saved_model": serve_tf_saved_model,
    "onnx": serve_onnx,
    "openvino": serve_openvino,
    "litert": serve_litert,
    "torch": serve_torch,
}


def export_options(format):
    """The torch format fixes the batch unless told it is dynamic."""
    if format == "torch" and BACKEND == "torch":
        import torch

        return {"dynamic_shapes": {0: torch.export.Dim("batch", min=1, max=4096)}}
    return {}


@pytest.fixture(scope="module")
def every_layer_model():
    model = train(build_every_layer_model())
    inputs = {batch: sample_inputs(batch, seed=batch) for batch in BATCHES}
    return model, {batch: (x, to_numpy(model(x))) for batch, x in inputs.items()}


def assert_serves_the_model(serve, expected_by_batch):
    for batch, (x, expected) in expected_by_batch.items():
        difference = np.abs(serve(x) - expected).max()
        assert difference <= MATRIX_TOLERANCE, f"batch {batch}: {difference}"


def matrix_cell(format):
    why = KERAS_FAILS.get((BACKEND, format))
    if why is not None:
        return pytest.param(format, marks=pytest.mark.xfail(strict=True, reason=why))
    if (BACKEND, format) == ("torch", "litert"):
        reason = "needs litert-torch (transformers, torchao, ...), not in CI"
        return pytest.param(format, marks=pytest.mark.skip(reason=reason))
    return format


@pytest.mark.parametrize("format", [matrix_cell(format) for format in FILE_NAMES])
def test_export_serves_every_layer_in_the_formats_runtime(
    format, every_layer_model, tmp_path
):
    model, expected_by_batch = every_layer_model
    path = str(tmp_path / FILE_NAMES[format])  # openvino's export takes str only
    model.export(path, format=format, verbose=False, **export_options(format))
    assert_serves_the_model(SERVERS[format](path), expected_by_batch)


@pytest.mark.parametrize(
    "format", [f for (b, f) in KERAS_FAILS if b == BACKEND] or [None]
)
def test_keras_fails_the_same_cells_for_a_plain_dense_model(format, tmp_path):
    if format is None:
        pytest.skip(f"Keras exports every format from {BACKEND}")
    dense = keras.Sequential([keras.Input((INPUT_DIM,)), keras.layers.Dense(3)])
    dense(sample_inputs(2))
    path = str(tmp_path / FILE_NAMES[format])
    with pytest.raises(Exception):  # noqa: B017 (Keras raises several types)
        dense.export(path, format=format, verbose=False)
        SERVERS[format](path)(sample_inputs(2))


@pytest.mark.skipif(BACKEND != "jax", reason="the workaround for JAX -> OpenVINO")
def test_jax_to_openvino_through_onnx(every_layer_model, tmp_path):
    """OpenVINO reads the ONNX file that JAX exports."""
    model, expected_by_batch = every_layer_model
    model.export(str(tmp_path / "model.onnx"), format="onnx", verbose=False)
    assert_serves_the_model(serve_openvino(tmp_path / "model.onnx"), expected_by_batch)


@pytest.mark.xfail(
    strict=True,
    raises=AttributeError,
    reason="Keras 3.15's openvino export calls filepath.endswith: a pathlib.Path "
    "fails ('PosixPath' object has no attribute 'endswith'); pass a str",
)
def test_keras_openvino_export_refuses_a_pathlib_path(tmp_path):
    dense = keras.Sequential([keras.Input((INPUT_DIM,)), keras.layers.Dense(3)])
    dense(sample_inputs(2))
    dense.export(tmp_path / "dense.xml", format="openvino", verbose=False)


def test_onnx_of_a_wide_fastfood_layer_takes_any_batch(tmp_path, rng):
    """n = 256: `fwht` uses Kronecker factors there on every backend."""
    model = keras.Sequential(
        [keras.Input((200,)), FastfoodDense(32, seed=0), keras.layers.Dense(3)]
    )
    x = rng.standard_normal((3, 200)).astype("float32")
    expected = to_numpy(model(x))
    model.export(tmp_path / "wide.onnx", format="onnx", verbose=False)
    served = serve_onnx(tmp_path / "wide.onnx")(x)
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-4)


def test_the_readme_recipe_load_call_once_then_export(tmp_path):
    """README: load a saved model, call it once, export; onnxruntime serves it."""
    model = train(build_model("FastfoodDense"))
    x = sample_inputs()
    expected = to_numpy(model(x))
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    loaded(np.zeros((1, x.shape[1]), "float32"))
    loaded.export(tmp_path / "model.onnx", format="onnx", verbose=False)
    served = serve_onnx(tmp_path / "model.onnx")(x)
    np.testing.assert_allclose(
        served, expected, rtol=0, atol=TOLERANCE["FastfoodDense"]
    )


@pytest.mark.xfail(
    strict=True,
    raises=ValueError,
    reason="Keras 3.15 refuses to export a loaded model that was never called "
    "('The model provided has never called'), a plain Dense model too; call it "
    "once first (the README's recipe)",
)
def test_keras_refuses_to_export_a_loaded_model_never_called(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save(tmp_path / "dense.keras")
    loaded = keras.models.load_model(tmp_path / "dense.keras")
    loaded.export(tmp_path / "dense.onnx", format="onnx", verbose=False)
