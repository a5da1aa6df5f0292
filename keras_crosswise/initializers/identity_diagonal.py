"""Identity initializer for diagonal weights."""

import keras
from keras import ops

from keras_crosswise._validation import check_real


@keras.saving.register_keras_serializable(package="keras_crosswise")
class IdentityDiagonal(keras.initializers.Initializer):
    """Initializes a diagonal weight to `gain` everywhere: W_hat = gain * I.

    A square CZDense layer then starts as (a multiple of) the identity; with
    `units != n` every diagonal block starts as the identity, so the layer
    copies (or sums) its inputs. Deterministic: no seed.

    Args:
        gain: float, the value of every diagonal entry.

    Example:

    >>> print(keras.ops.convert_to_numpy(IdentityDiagonal()(shape=(3,))))
    [1. 1. 1.]
    """

    def __init__(self, gain=1.0):
        self.gain = check_real("gain", gain)

    def __call__(self, shape, dtype=None):
        return ops.full(shape, self.gain, dtype=dtype or "float32")

    def get_config(self):
        return {"gain": self.gain}
