"""Chi-distributed row lengths: the diagonal C of Fastfood for the Gaussian kernel."""

import keras

from keras_crosswise._validation import check_positive_int
from keras_crosswise.initializers._numpy_random import NumpyRandomInitializer


@keras.saving.register_keras_serializable(package="keras_crosswise")
class ChiScaling(NumpyRandomInitializer):
    """Draws from the chi distribution: the length of a standard Gaussian vector.

    With `degrees_of_freedom = n`, entry i is distributed as `||g||` for
    `g ~ N(0, I_n)` (sampled as the square root of a chi-squared draw). McKernel
    divides these lengths by `||G||_F` so that each row of C H G Pi H B has the
    length of a Gaussian vector (Gaussian RBF kernel).

    Args:
        degrees_of_freedom: positive integer, or `None` for the size of the
            last axis of the requested shape.
        seed: integer or `None` (then follows `keras.utils.set_random_seed`).

    Example:

    >>> values = keras.ops.convert_to_numpy(ChiScaling(seed=0)(shape=(2, 1024)))
    >>> print(f"{values.mean():.1f}")  # near sqrt(1024) = 32
    32.0
    """

    def __init__(self, degrees_of_freedom=None, seed=None):
        super().__init__(seed=seed)
        if degrees_of_freedom is not None:
            degrees_of_freedom = check_positive_int(
                "degrees_of_freedom", degrees_of_freedom
            )
        self.degrees_of_freedom = degrees_of_freedom

    def sample(self, rng, shape):
        dof = self.degrees_of_freedom or shape[-1]
        return rng.chisquare(dof, size=shape) ** 0.5

    def get_config(self):
        return {**super().get_config(), "degrees_of_freedom": self.degrees_of_freedom}
