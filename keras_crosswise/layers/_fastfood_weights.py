"""The random Fastfood weights B, Pi, G shared by McKernel and FastfoodDense."""

import keras

from keras_crosswise._validation import check_weight_size
from keras_crosswise.initializers.normalized_gaussian import NormalizedGaussian
from keras_crosswise.initializers.rademacher_signs import RademacherSigns
from keras_crosswise.initializers.random_permutation import RandomPermutation
from keras_crosswise.ops.hadamard import next_power_of_two


def offset_seed(seed, offset):
    """A distinct seed per weight from the layer's seed (`None` stays `None`)."""
    return None if seed is None else seed + offset


def fastfood_geometry(layer, input_dim, outputs):
    """(n, blocks): the padded size n = next power of two and ceil(outputs / n),
    refused before allocation when the (blocks, n) weights would be too large."""
    padded = next_power_of_two(input_dim)
    blocks = -(-outputs // padded)
    check_weight_size(layer.__class__.__name__, "signs", (blocks, padded))
    return padded, blocks


def add_permutation(layer, blocks, padded, seed):
    """Pi: one stored random permutation per block (never trained)."""
    return layer.add_weight(
        name="permutation",
        shape=(blocks, padded),
        dtype="int32",
        initializer=RandomPermutation(seed=offset_seed(seed, 1)),
        trainable=False,
    )


def default_signs(seed):
    return RademacherSigns(seed=offset_seed(seed, 0))


def default_gaussian(seed, normalized=False):
    """G: standard normal; with `normalized`, rows rescaled to ||G||^2 = n."""
    if normalized:
        return NormalizedGaussian(seed=offset_seed(seed, 2))
    return keras.initializers.RandomNormal(stddev=1.0, seed=offset_seed(seed, 2))
