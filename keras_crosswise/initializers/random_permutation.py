"""Random permutations: Pi of Fastfood (Eq. 14)."""

import keras
import numpy as np

from keras_crosswise.initializers._numpy_random import NumpyRandomInitializer


@keras.saving.register_keras_serializable(package="keras_crosswise")
class RandomPermutation(NumpyRandomInitializer):
    """Each row along the last axis is an independent uniform permutation of
    `0 .. n - 1` (integer dtype; `int32` unless a dtype is given).

    Args:
        seed: integer or `None` (then follows `keras.utils.set_random_seed`).
    """

    def sample(self, rng, shape):
        rows = np.broadcast_to(np.arange(shape[-1]), shape)
        return rng.permuted(rows, axis=-1)

    def __call__(self, shape, dtype=None):
        return super().__call__(shape, dtype=dtype or "int32")
