"""Base of the initializers that draw with NumPy (exact distributions, float64)."""

import random

import keras
import numpy as np
from keras import ops

from keras_crosswise._validation import check_seed


class NumpyRandomInitializer(keras.initializers.Initializer):
    """Draws with NumPy's generator, so a seed gives the same values on every
    backend; seeding otherwise follows Keras's random initializers.

    With an integer `seed` every call returns the same values. With
    `seed=None` a seed is drawn once, when the initializer is created, from
    Python's `random` (which `keras.utils.set_random_seed` seeds), and every
    call returns the values of that seed, as `keras.initializers.RandomNormal()`
    does. `get_config` keeps `seed=None`, so a deserialized copy draws anew.
    Subclasses implement `sample(rng, shape)` returning a NumPy array.
    """

    def __init__(self, seed=None):
        self.seed = check_seed(seed)
        # The range Keras's own unseeded initializers draw from.
        self._drawn_seed = random.randint(1, 10**9) if self.seed is None else None

    def sample(self, rng, shape):
        raise NotImplementedError

    def __call__(self, shape, dtype=None):
        seed = self._drawn_seed if self.seed is None else self.seed
        values = self.sample(np.random.default_rng(seed), tuple(shape))
        return ops.convert_to_tensor(values, dtype=dtype or "float32")

    def get_config(self):
        return {"seed": self.seed}
