"""Random signs: the diagonal B of Fastfood (Eq. 14)."""

import keras

from keras_crosswise.initializers._numpy_random import NumpyRandomInitializer


@keras.saving.register_keras_serializable(package="keras_crosswise")
class RademacherSigns(NumpyRandomInitializer):
    """Draws each entry from {-1, +1} with probability 1/2 (Rademacher).

    Args:
        seed: integer or `None` (then follows `keras.utils.set_random_seed`).

    Example:

    >>> print(keras.ops.convert_to_numpy(RademacherSigns(seed=0)(shape=(4,))))
    [ 1.  1.  1. -1.]
    """

    def sample(self, rng, shape):
        return rng.choice([-1.0, 1.0], size=shape)
