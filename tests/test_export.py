"""Export for serving: TF SavedModel (TensorFlow, JAX) and ONNX (all backends)."""

import keras
import numpy as np
import pytest

from keras_crosswise.layers import FastfoodDense

from layer_checks import to_numpy
from model_zoo import LAYERS, TOLERANCE, build_model, sample_inputs, train

BACKEND = keras.backend.backend()


def reference(name):
    model = train(build_model(name))
    x = sample_inputs()
    return model, x, to_numpy(model(x))


@pytest.mark.skipif(
    BACKEND == "torch", reason="Keras exports tf_saved_model from TensorFlow and JAX"
)
@pytest.mark.parametrize("name", list(LAYERS))
def test_tf_saved_model_serves_same_outputs(name, tmp_path):
    import tensorflow as tf

    model, x, expected = reference(name)
    model.export(tmp_path / "saved", format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    served = loaded.serve(tf.constant(x)).numpy()
    np.testing.assert_allclose(served, expected, rtol=0, atol=TOLERANCE[name])


@pytest.mark.parametrize("name", list(LAYERS))
def test_onnx_runs_in_onnxruntime_with_same_outputs(name, tmp_path):
    import onnxruntime

    model, x, expected = reference(name)
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(path))
    served = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(served, expected, rtol=0, atol=TOLERANCE[name])
    # The exported graph takes any batch size.
    batch = sample_inputs(count=2, seed=5)
    served = session.run(None, {session.get_inputs()[0].name: batch})[0]
    np.testing.assert_allclose(
        served, to_numpy(model(batch)), rtol=0, atol=TOLERANCE[name]
    )


def test_onnx_of_a_wide_fastfood_layer_takes_any_batch(tmp_path, rng):
    """n = 256: `fwht` uses Kronecker factors there on every backend's table."""
    import onnxruntime

    model = keras.Sequential(
        [keras.Input((200,)), FastfoodDense(32, seed=0), keras.layers.Dense(3)]
    )
    x = rng.standard_normal((3, 200)).astype("float32")
    expected = to_numpy(model(x))
    model.export(tmp_path / "wide.onnx", format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(tmp_path / "wide.onnx"))
    served = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-4)


def test_the_readme_recipe_load_call_once_then_export(tmp_path):
    """README: load a saved model, call it once, export; onnxruntime serves it."""
    import onnxruntime

    model, x, expected = reference("FastfoodDense")
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    loaded(np.zeros((1, x.shape[1]), "float32"))
    loaded.export(tmp_path / "model.onnx", format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    served = session.run(None, {session.get_inputs()[0].name: x})[0]
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
