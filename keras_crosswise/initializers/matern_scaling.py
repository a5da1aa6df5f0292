"""Matérn radial scaling: the diagonal C of McKernel's RBF_MATERN features."""

import keras
import numpy as np

from keras_crosswise._validation import check_positive_int
from keras_crosswise.initializers._numpy_random import NumpyRandomInitializer

# t ball samples cost O(t^2) numbers per entry: keep t to what the kernel needs.
MAX_MATERN_T = 1024
# Entries sampled at once, so that a chunk holds at most ~2**22 numbers.
_CHUNK_NUMBERS = 2**22


@keras.saving.register_keras_serializable(package="keras_crosswise")
class MaternScaling(NumpyRandomInitializer):
    """Draws `||u_1 + ... + u_t||` for t independent uniform points of the unit ball.

    Each `u_j` is uniform in the unit ball of dimension `dimension` (a uniform
    direction times `U ** (1 / dimension)`, U uniform on [0, 1]). Frequencies
    with these lengths give the Matérn-type kernel whose spectral density is
    the t-fold convolution of the ball's indicator (McKernel's RBF_MATERN).

    The t directions enter only through their Gram matrix, so for
    `dimension > t` they are drawn as the rows of a Bartlett factor of a
    Wishart matrix (O(t^2) numbers per entry instead of O(t * dimension)).

    Args:
        t: positive integer, the number of ball samples summed.
        dimension: positive integer, or `None` for the size of the last axis
            of the requested shape.
        seed: integer or `None` (then follows `keras.utils.set_random_seed`).
    """

    def __init__(self, t=40, dimension=None, seed=None):
        super().__init__(seed=seed)
        self.t = check_positive_int("t", t, MAX_MATERN_T)
        self.dimension = (
            None if dimension is None else check_positive_int("dimension", dimension)
        )

    def sample(self, rng, shape):
        dim, t = self.dimension or shape[-1], self.t
        count = int(np.prod(shape))
        chunk = max(1, _CHUNK_NUMBERS // (t * min(t, dim)))
        if count == 0:
            return np.zeros(shape)
        lengths = [
            self._lengths(rng, min(chunk, count - start), t, dim)
            for start in range(0, count, chunk)
        ]
        return np.concatenate(lengths).reshape(shape)

    @staticmethod
    def _lengths(rng, count, t, dim):
        if dim <= t:
            vectors = rng.standard_normal((count, t, dim))
        else:
            # Bartlett: A A^T ~ Wishart(dim, I_t), so the rows of A have the Gram
            # matrix of t Gaussian vectors of R^dim.
            vectors = np.tril(rng.standard_normal((count, t, t)), k=-1)
            diagonal = np.sqrt(rng.chisquare(dim - np.arange(t), size=(count, t)))
            vectors[:, np.arange(t), np.arange(t)] = diagonal
        directions = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
        radii = rng.uniform(size=(count, t, 1)) ** (1.0 / dim)
        return np.linalg.norm(np.sum(directions * radii, axis=1), axis=-1)

    def get_config(self):
        return {**super().get_config(), "t": self.t, "dimension": self.dimension}
