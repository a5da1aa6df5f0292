"""Input handling shared by the ops."""

import keras
from keras import ops


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


def working_dtype(dtype):
    """The float dtype a transform computes in for inputs of `dtype`: float64
    stays float64; float16, bfloat16, float32 and integers compute in float32."""
    wide = keras.backend.standardize_dtype(dtype) == "float64"
    return "float64" if wide else "float32"
