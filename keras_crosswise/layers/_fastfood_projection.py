"""The Fastfood projection S H G Pi H B x shared by McKernel and FastfoodDense."""

import keras
import numpy as np
from keras import ops

from keras_crosswise._validation import check_weight_size
from keras_crosswise.initializers._numpy_random import NumpyRandomInitializer
from keras_crosswise.initializers.normalized_gaussian import NormalizedGaussian
from keras_crosswise.initializers.rademacher_signs import RademacherSigns
from keras_crosswise.initializers.random_permutation import RandomPermutation
from keras_crosswise.ops._tensors import working_dtype
from keras_crosswise.ops.fastfood import fastfood
from keras_crosswise.ops.hadamard import next_power_of_two, pad_to_power_of_two


def offset_seed(seed, offset):
    """A distinct seed per weight from the layer's seed (`None` stays `None`)."""
    return None if seed is None else seed + offset


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


class FastfoodProjection:
    """Mixin for a Keras layer: owns the Fastfood weights and `S H G Pi H B x`.

    Weights, created by `build_fastfood` in this order (saved files depend on
    it): B -> `signs`, Pi -> `permutation` (int32, never trained), G ->
    `gaussian`, each `(blocks, n)`, and S -> `scale`, `(outputs,)`. n is the
    next power of two >= the input width and `blocks = ceil(outputs / n)`.
    On load, each row of `permutation` must be a permutation of `0..n-1`: a
    corrupted or edited file would otherwise gather out of range (an opaque
    backend error, or NaN on JAX) or silently compute a wrong product.
    """

    def build_fastfood(self, input_dim, outputs, signs, gaussian, scale, seed):
        """Create the weights; `signs`, `gaussian` and `scale` are `add_weight`
        keyword arguments (initializer, regularizer, constraint). The float
        weights are read in float32 under mixed precision. Returns n."""
        padded = next_power_of_two(input_dim)
        shape = (-(-outputs // padded), padded)
        check_weight_size(type(self).__name__, "signs", shape)
        self.fastfood_outputs, self.padded_dim = outputs, padded
        self.signs = self.add_weight(name="signs", shape=shape, autocast=False, **signs)
        self.permutation = self.add_weight(
            name="permutation",
            shape=shape,
            dtype="int32",
            initializer=RandomPermutation(seed=offset_seed(seed, 1)),
            trainable=False,
        )
        self.gaussian = self.add_weight(
            name="gaussian", shape=shape, autocast=False, **gaussian
        )
        self.scale = self.add_weight(
            name="scale", shape=(outputs,), autocast=False, **scale
        )
        return padded

    def fastfood_projection(self, inputs):
        """`S H G Pi H B x` of shape `(..., outputs)`: the input zero-padded to
        n, the blocks' outputs concatenated and trimmed. Computed in float32
        (float64 for a float64 layer)."""
        x = pad_to_power_of_two(ops.cast(inputs, working_dtype(self.compute_dtype)))
        mixed = fastfood(x, self.signs, self.permutation, self.gaussian)
        return mixed[..., : self.fastfood_outputs] * self.scale

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
