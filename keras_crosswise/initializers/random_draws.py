"""The plain random draws of the Fastfood and random-feature layers.

Drawn with NumPy, so a seed gives the same values on every backend. The
layers create them internally (they are never in a saved config).
"""

import numpy as np

from keras_crosswise.initializers._numpy_random import NumpyRandomInitializer


class StandardNormal(NumpyRandomInitializer):
    """I.i.d. N(0, 1): McKernel's G, RandomFourierFeatures' Gaussian W."""

    def sample(self, rng, shape):
        return rng.standard_normal(shape)


class StandardCauchy(NumpyRandomInitializer):
    """I.i.d. standard Cauchy: the Laplacian kernel's dense W."""

    def sample(self, rng, shape):
        return rng.standard_cauchy(shape)


class ReciprocalNormal(NumpyRandomInitializer):
    """`1 / g` for g ~ N(0, 1): a random sign times the Cauchy radial factor
    `1 / |g|` (B of the Laplacian kernel's Fastfood features)."""

    def sample(self, rng, shape):
        return 1.0 / rng.standard_normal(shape)


class UniformPhase(NumpyRandomInitializer):
    """Phases uniform on [0, 2 pi): RandomFourierFeatures' bias."""

    def sample(self, rng, shape):
        return rng.uniform(0.0, 2 * np.pi, shape)
