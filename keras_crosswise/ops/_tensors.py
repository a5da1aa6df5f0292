"""Input handling shared by the ops."""

import keras
from keras import ops


def as_tensors(*values):
    """Backend tensors for array-likes; symbolic `KerasTensor`s pass through."""
    return tuple(
        value if isinstance(value, keras.KerasTensor) else ops.convert_to_tensor(value)
        for value in values
    )
