"""The private names of JAX, PyTorch and jax2onnx that the package reads, in
one room beside `_keras_internals.py`, each pinned by
`tests/test_backend_internals.py`: if a release moves one, that test fails
before the native kernel or an export does. Each backend is imported only
by the helper that needs it."""

import contextlib
import sys


def jax_apply_primitive():
    """`jax._src.dispatch.apply_primitive`: the eager implementation of a
    primitive (JAX exports no name for it; `jax.extend` has none yet)."""
    from jax._src import dispatch

    return dispatch.apply_primitive


def jax2onnx_converting():
    """Whether jax2onnx is converting a function now: it walks the jaxpr
    itself and has no rule for the native kernel's primitive. jax2onnx
    patches JAX's call sites while it traces
    (`plugin_system._PATCH_STATE`); a jax2onnx without that state counts as
    converting whenever it is imported, which only costs speed."""
    system = sys.modules.get("jax2onnx.plugins.plugin_system")
    if system is None:  # jax2onnx not imported, or laid out otherwise
        return "jax2onnx" in sys.modules
    state = getattr(system, "_PATCH_STATE", None)
    return True if state is None else bool(state)


def torch_real_tensors(like):
    """Where `like` is a fake tensor (`torch.export` traces eager code under
    a fake-tensor mode), a context that makes real tensors (PyTorch's
    `torch._subclasses.fake_tensor`); elsewhere, nothing."""
    from torch._subclasses import fake_tensor

    if isinstance(like, fake_tensor.FakeTensor):
        return fake_tensor.unset_fake_temporarily()
    return contextlib.nullcontext()


def tensorflow_trace():
    """Where TensorFlow runs the caller now: `"eager"`; `"xla"` in a
    function compiled with XLA (`jit_compile=True`) or inside one;
    `"saving"` while `tf.saved_model.save` traces; else the names of the
    graphs being traced, innermost first. TensorFlow's own code asks
    `control_flow_util.GraphOrParentsInXlaContext` and
    `save_context.in_save_context`; neither is public."""
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util
    from tensorflow.python.saved_model import save_context

    if tf.executing_eagerly():
        return "eager"
    graph = tf.compat.v1.get_default_graph()
    if control_flow_util.GraphOrParentsInXlaContext(graph):
        return "xla"
    if save_context.in_save_context():
        return "saving"
    names = []
    while graph is not None:
        names.append(getattr(graph, "name", None))
        graph = getattr(graph, "outer_graph", None)
    return tuple(names)
