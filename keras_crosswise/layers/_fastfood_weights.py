"""The random Fastfood weights B, Pi, G shared by McKernel and FastfoodDense."""

import keras
import numpy as np

from keras_crosswise._validation import check_weight_size
from keras_crosswise.initializers._numpy_random import NumpyRandomInitializer
from keras_crosswise.initializers.normalized_gaussian import NormalizedGaussian
from keras_crosswise.initializers.rademacher_signs import RademacherSigns
from keras_crosswise.initializers.random_permutation import RandomPermutation
from keras_crosswise.ops.hadamard import next_power_of_two


def offset_seed(seed, offset):
    """A distinct seed per weight from the layer's seed (`None` stays `None`)."""
    return None if seed is None else seed + offset


class FastfoodWeightsMixin:
    """Refuses, on load, a `permutation` weight whose rows are not permutations.

    A corrupted or edited file would otherwise gather out of range (an opaque
    backend error, or NaN on JAX) or silently compute a wrong product.
    """

    def load_own_variables(self, store):
        super().load_own_variables(store)
        rows = np.asarray(keras.ops.convert_to_numpy(self.permutation.value))
        expected = np.arange(rows.shape[-1])
        bad = [
            i
            for i, row in enumerate(rows)
            if not np.array_equal(np.sort(row), expected)
        ]
        if bad:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the loaded weight "
                f"`permutation` must hold in each row a permutation of "
                f"0..{rows.shape[-1] - 1}; rows {bad[:5]} are not (row {bad[0]} "
                f"starts {rows[bad[0], :8].tolist()}). The saved file is corrupted "
                "or was edited."
            )


def add_fastfood_weights(layer, input_dim, outputs, signs, gaussian, seed):
    """Create B (`layer.signs`), Pi (`layer.permutation`) and G (`layer.gaussian`),
    in that order (saved files depend on it), each of shape (blocks, n).

    n is the next power of two >= input_dim and blocks = ceil(outputs / n); a
    size over the weight limit is refused before allocation. `signs` and
    `gaussian` are `add_weight` keyword arguments (initializer, regularizer,
    constraint); both are read in float32 under mixed precision. Pi is drawn
    from `seed` and never trained. Returns n.
    """
    padded = next_power_of_two(input_dim)
    shape = (-(-outputs // padded), padded)
    check_weight_size(layer.__class__.__name__, "signs", shape)
    layer.signs = layer.add_weight(name="signs", shape=shape, autocast=False, **signs)
    layer.permutation = layer.add_weight(
        name="permutation",
        shape=shape,
        dtype="int32",
        initializer=RandomPermutation(seed=offset_seed(seed, 1)),
        trainable=False,
    )
    layer.gaussian = layer.add_weight(
        name="gaussian", shape=shape, autocast=False, **gaussian
    )
    return padded


class _StandardNormal(NumpyRandomInitializer):
    """I.i.d. N(0, 1) drawn with NumPy (the same values on every backend)."""

    def sample(self, rng, shape):
        return rng.standard_normal(shape)


def default_signs(seed):
    return RademacherSigns(seed=offset_seed(seed, 0))


def default_gaussian(seed, normalized=False):
    """G: standard normal; with `normalized`, rows rescaled to ||G||^2 = n."""
    if normalized:
        return NormalizedGaussian(seed=offset_seed(seed, 2))
    return _StandardNormal(seed=offset_seed(seed, 2))
