"""What `keras_crosswise._backend_internals` reads in JAX, jax2onnx, PyTorch
and TensorFlow, pinned: if a release moves one of these private names, this
fails before the native kernel's JAX or TensorFlow binding, the jax2onnx
export path or a `torch.export` of a FastfoodDense does."""

import numpy as np
import pytest

from keras_crosswise._backend_internals import (
    jax2onnx_converting,
    jax_apply_primitive,
    tensorflow_trace,
    torch_real_tensors,
)

pytestmark = pytest.mark.backend_independent  # each reads its own library


def test_jax_apply_primitive_runs_a_primitive_eagerly():
    jax = pytest.importorskip("jax")
    result = jax_apply_primitive()(jax.lax.neg_p, jax.numpy.arange(3.0))
    np.testing.assert_array_equal(np.asarray(result), [-0.0, -1.0, -2.0])


def test_jax2onnx_reports_a_conversion_only_while_it_converts():
    jax2onnx = pytest.importorskip("jax2onnx")
    from jax2onnx.plugins import plugin_system

    assert hasattr(plugin_system, "_PATCH_STATE")  # the name read
    assert not jax2onnx_converting()
    seen = []

    def double(x):
        seen.append(jax2onnx_converting())
        return x * 2

    jax2onnx.to_onnx(double, [(2, 3)])
    assert seen and all(seen)
    assert not jax2onnx_converting()


def test_torch_real_tensors_leaves_a_fake_tensor_mode():
    torch = pytest.importorskip("torch")
    from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

    with FakeTensorMode():
        fake = torch.ones(2)
        with torch_real_tensors(fake):
            real = torch.ones(2)
        still_fake = torch.ones(2)
    assert isinstance(fake, FakeTensor) and isinstance(still_fake, FakeTensor)
    assert not isinstance(real, FakeTensor)
    with torch_real_tensors(torch.ones(2)):  # a real tensor: nothing changes
        assert not isinstance(torch.ones(2), FakeTensor)


def test_tensorflow_trace_tells_eager_xla_saving_and_graph_names(tmp_path):
    tf = pytest.importorskip("tensorflow")
    seen = {}

    def record(name):
        def function(x):
            seen[name] = tensorflow_trace()
            return x * 2

        return function

    record("eager")(1.0)
    tf.function(record("xla"), jit_compile=True)(1.0)

    @tf.function
    def outer(x):
        return tf.function(record("nested"))(x)

    outer(1.0)
    module = tf.Module()
    module.serve = tf.function(
        record("saving"), input_signature=[tf.TensorSpec((), tf.float32)]
    )
    tf.saved_model.save(module, str(tmp_path))  # traces in its save context
    assert seen["eager"] == "eager"
    assert seen["xla"] == "xla"
    assert seen["saving"] == "saving"
    assert seen["nested"][0] == "function" and "outer" in seen["nested"]
