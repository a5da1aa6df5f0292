"""Input handling shared by the ops."""

import keras
import numpy as np
from keras import ops

from keras_crosswise import _backends


def as_tensors(*values):
    """Backend tensors for array-likes; symbolic `KerasTensor`s pass through."""
    return tuple(
        value if isinstance(value, keras.KerasTensor) else ops.convert_to_tensor(value)
        for value in values
    )


class _SymbolicOperation(keras.Operation):
    """Wraps an op for symbolic inputs: a node in the functional graph whose
    eager call is the op itself and whose output spec is given."""

    def __init__(self, function, output_spec, name):
        super().__init__(name=name)
        self.function, self.output_spec = function, output_spec

    def call(self, *args):
        return self.function(*args)

    def compute_output_spec(self, *args):
        return self.output_spec(*args)


def symbolic_call(function, output_spec, *args):
    """`function(*args)` as a graph node if any of `args` is symbolic
    (`keras.Input`), else `None`. For ops whose eager path needs concrete
    values; `output_spec(*args)` returns the output's `KerasTensor`."""
    if not any(isinstance(value, keras.KerasTensor) for value in args):
        return None
    name = getattr(function, "__name__", None) or function.func.__name__
    return _SymbolicOperation(function, output_spec, name).symbolic_call(*args)


def zero_pad_last_axis(x, padding):
    """`x` with `padding` zeros appended on its last axis, `0 < padding <= n`.
    Not `ops.pad`: Keras's torch `pad` makes torch.compile break the graph at
    the next layer's call ("mapping proxy affected by dictionary mutation")."""
    return ops.concatenate([x, ops.zeros_like(x[..., :padding])], axis=-1)


def working_dtype(dtype):
    """The float dtype a transform computes in for inputs of `dtype`: float64
    stays float64; float16, bfloat16, float32 and integers compute in float32."""
    wide = keras.backend.standardize_dtype(dtype) == "float64"
    return "float64" if wide else "float32"


def static_size(size):
    """An axis size as a Python `int` (`None` stays `None`).

    The sizes the ops read (a feature axis, a weight's shape) are fixed by the
    model. Under torch.jit tracing (ONNX export) they arrive as traced
    tensors, and the constant the trace records is the right one, so torch's
    TracerWarning about it is not raised.
    """
    if size is None:
        return None
    with _backends.quiet_trace():
        return int(size)


def constant(values, dtype):
    """A NumPy constant (a Hadamard matrix, block offsets) as a backend tensor,
    recorded as a constant by a torch.jit trace without a TracerWarning."""
    with _backends.quiet_trace():
        return ops.convert_to_tensor(np.asarray(values), dtype=dtype)


def cached_constant(key, make, dtype, like):
    """`constant(make(), dtype)` on the device of the tensor `like`, made
    once per `key` and dtype where the backend keeps constants
    (`_backends.cached`: PyTorch, so that torch.compile finds them made; not
    TensorFlow, where a tensor made inside one tf.function belongs to its
    graph alone)."""
    full_key = (key, keras.backend.standardize_dtype(dtype))
    return _backends.cached(full_key, lambda: constant(make(), dtype), like)


def densified(x):
    """`x`, densified if it is a sparse tensor of the backend (a TensorFlow
    `SparseTensor`, a JAX `BCOO`, a sparse PyTorch tensor): the structured
    transforms need every entry. Anything else is returned as it is."""
    return _backends.densified(x)
