"""Gaussian diagonal with a fixed row norm: G of FastfoodDense."""

import keras
import numpy as np

from keras_crosswise.initializers._numpy_random import NumpyRandomInitializer


@keras.saving.register_keras_serializable(package="keras_crosswise")
class NormalizedGaussian(NumpyRandomInitializer):
    """I.i.d. standard normal entries, each row (last axis) rescaled to a
    root-mean-square of exactly 1, i.e. `||G||^2 = n` per block.

    In H G Pi H B this removes the block-to-block spread of `||G||` (the part
    McKernel's C corrects with `1 / ||G||_F`), so each block passes on the
    energy of its input: stacked FastfoodDense layers keep their scale.

    Args:
        seed: integer or `None` (then follows `keras.utils.set_random_seed`).
    """

    def sample(self, rng, shape):
        values = rng.standard_normal(shape)
        rms = np.sqrt(np.mean(values**2, axis=-1, keepdims=True))
        return values / rms
