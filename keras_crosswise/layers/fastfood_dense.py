"""FastfoodDense: a dense layer with learned Fastfood diagonals (adaptive Fastfood)."""

import keras
import numpy as np

from keras_crosswise._validation import check_seed
from keras_crosswise.layers._components import set_components, weight_components
from keras_crosswise.layers._fastfood_projection import (
    FastfoodProjection,
    default_gaussian,
    default_signs,
)
from keras_crosswise.layers._structured_dense import StructuredDense


@keras.saving.register_keras_serializable(package="keras_crosswise")
class FastfoodDense(FastfoodProjection, StructuredDense):
    """Dense replacement `activation(S H G Pi H B x + bias)` with learned diagonals.

    The adaptive Fastfood layer of McKernel's "SGD optimization setting" and
    Deep Fried Convnets: the `(units, d)` weight matrix of `Dense` becomes the
    structured product of Eq. 14 with the diagonals learned and H (the
    Walsh-Hadamard transform) and Pi (a random permutation) fixed. The input
    is zero-padded to n = the next power of two; `ceil(units / n)` blocks
    are stacked and the output trimmed to `units`. It costs O(n log n) time
    and about `3 * max(n, units)` parameters instead of `d * units`, and,
    unlike a stack of diagonal (CZDense) layers, it mixes all features.

    Weights (paper symbol -> name): B -> `signs` (Rademacher start), Pi ->
    `permutation` (int32, fixed), G -> `gaussian` (normal start, each row
    rescaled to `||G||^2 = n`), all `(blocks, n)`; S (C in Eq. 14) -> `scale`,
    `(units,)`, ones at start.

    Initialisation keeps the activation scale: the product is multiplied by
    the constant `sqrt(n / d) / n`, so that with S = 1 each output has
    `E[y_i^2] = E[x^2]` (H H = n I, mean G^2 = 1 exactly, and d of the n
    padded inputs are real). The `scale` vector is then the per-output gain: for a ReLU
    stack, `scale_initializer=IdentityDiagonal(gain=2 ** 0.5)` keeps the
    second moment (see `tests/test_fastfood_dense.py` for 10-layer stacks).

    Args:
        units: positive integer, dimensionality of the output space.
        activation: activation function; `None` means linear.
        use_bias: whether the layer adds a bias vector.
        signs_initializer: initializer of B. Defaults to `RademacherSigns()`.
        gaussian_initializer: initializer of G. Defaults to
            `NormalizedGaussian()`.
        scale_initializer: initializer of S. Defaults to `"ones"`.
        bias_initializer: initializer of the bias. Defaults to `"zeros"`.
        signs_regularizer: regularizer applied to B.
        gaussian_regularizer: regularizer applied to G.
        scale_regularizer: regularizer applied to S.
        bias_regularizer: regularizer applied to the bias.
        signs_constraint: constraint applied to B.
        gaussian_constraint: constraint applied to G.
        scale_constraint: constraint applied to S.
        bias_constraint: constraint applied to the bias.
        activity_regularizer: regularizer applied to the output.
        seed: integer or `None`, the seed of the permutation and of the
            default random initializers; `None` follows
            `keras.utils.set_random_seed`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        N-D tensor with shape `(..., d)`, rank at least 2.

    Output shape:
        N-D tensor with shape `(..., units)`.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input(shape=(784,)),
    ...     keras_crosswise.layers.FastfoodDense(1024, activation="relu"),
    ...     keras.layers.Dense(10),
    ... ])
    >>> layer = model.layers[0]  # 4,096 learned weights instead of 803,840
    >>> print(sum(int(np.prod(w.shape)) for w in layer.trainable_weights))
    4096

    References:
        Le, Sarlós and Smola, "Fastfood: approximating kernel expansions in
        loglinear time", ICML 2013. Yang et al., "Deep Fried Convnets", ICCV
        2015 (adaptive Fastfood). Curtó, Zarza et al., "Doctor of Crosswise:
        Reducing Over-parametrization in Neural Networks", arXiv:1905.10324.
    """

    COMPONENTS = tuple(
        f"{weight}_{kind}"
        for kind in ("initializer", "regularizer", "constraint")
        for weight in ("signs", "gaussian", "scale", "bias")
    )

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        signs_initializer=None,
        gaussian_initializer=None,
        scale_initializer="ones",
        bias_initializer="zeros",
        signs_regularizer=None,
        gaussian_regularizer=None,
        scale_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        signs_constraint=None,
        gaussian_constraint=None,
        scale_constraint=None,
        bias_constraint=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(units, activation, use_bias, activity_regularizer, **kwargs)
        self.seed = check_seed(seed)
        set_components(
            self,
            signs_initializer=(
                default_signs(self.seed)
                if signs_initializer is None
                else signs_initializer
            ),
            gaussian_initializer=(
                default_gaussian(self.seed, normalized=True)
                if gaussian_initializer is None
                else gaussian_initializer
            ),
            scale_initializer=scale_initializer,
            bias_initializer=bias_initializer,
            signs_regularizer=signs_regularizer,
            gaussian_regularizer=gaussian_regularizer,
            scale_regularizer=scale_regularizer,
            bias_regularizer=bias_regularizer,
            signs_constraint=signs_constraint,
            gaussian_constraint=gaussian_constraint,
            scale_constraint=scale_constraint,
            bias_constraint=bias_constraint,
        )

    def build_structure(self, input_dim):
        self.build_fastfood(
            input_dim,
            self.units,
            signs=weight_components(self, "signs"),
            gaussian=weight_components(self, "gaussian"),
            scale=weight_components(self, "scale"),
            seed=self.seed,
        )

    @property
    def normalization(self):
        """The constant `sqrt(n / d) / n` that multiplies S H G Pi H B x."""
        # Variance-preserving (class docstring): H H = n I twice.
        return float(np.sqrt(self.padded_dim / self.input_dim) / self.padded_dim)

    def linear(self, inputs):
        """S H G Pi H B x, without bias and activation, in float32 (float64
        for a float64 layer)."""
        return self.fastfood_projection(inputs) * self.normalization

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
