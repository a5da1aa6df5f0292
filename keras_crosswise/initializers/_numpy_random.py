"""Base of the initializers that draw with NumPy (exact distributions, float64)."""

import random

import keras
import numpy as np
from keras import ops

from keras_crosswise._validation import check_seed


class NumpyRandomInitializer(keras.initializers.Initializer):
    """Draws with a NumPy generator; seeding follows Keras's initializers.

    With an integer `seed` every call returns the same values. With
    `seed=None` each call draws a fresh seed from Python's `random`, which
    `keras.utils.set_random_seed` seeds, so seeded programs are reproducible.
    Subclasses implement `sample(rng, shape)` returning a NumPy array.
    """

    def __init__(self, seed=None):
        self.seed = check_seed(seed)

    def sample(self, rng, shape):
        raise NotImplementedError

    def __call__(self, shape, dtype=None):
        seed = self.seed if self.seed is not None else random.randint(0, 2**31 - 1)
        values = self.sample(np.random.default_rng(seed), tuple(shape))
        return ops.convert_to_tensor(values, dtype=dtype or "float32")

    def get_config(self):
        return {"seed": self.seed}
