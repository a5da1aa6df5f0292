"""FastfoodDense: a dense layer with learned Fastfood diagonals (adaptive Fastfood)."""

import keras
import numpy as np
from keras import ops

from keras_crosswise._tensors import working_dtype
from keras_crosswise._validation import MAX_FEATURES, check_seed
from keras_crosswise.layers._fastfood_projection import (
    FastfoodProjection,
    default_gaussian,
    default_signs,
)
from keras_crosswise.layers._structured_dense import StructuredDense
from keras_crosswise.ops.hadamard import fwht


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
    second moment through deep stacks (docs/guide.md).

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

    max_units = MAX_FEATURES  # a Fastfood row is at least `units` wide

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
        kernel_arguments = sorted(k for k in kwargs if k.startswith("kernel_"))
        if kernel_arguments:
            raise ValueError(
                f"FastfoodDense has no kernel, so it takes no {kernel_arguments}: "
                "its learned weights are the diagonals `signs` (B), `gaussian` "
                "(G) and `scale` (C), each with its own `*_initializer`, "
                "`*_regularizer` and `*_constraint` argument."
            )
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.seed = check_seed(seed)
        if signs_initializer is None:
            signs_initializer = default_signs(self.seed)
        if gaussian_initializer is None:
            gaussian_initializer = default_gaussian(self.seed, normalized=True)
        self.signs_initializer = keras.initializers.get(signs_initializer)
        self.gaussian_initializer = keras.initializers.get(gaussian_initializer)
        self.scale_initializer = keras.initializers.get(scale_initializer)
        self.signs_regularizer = keras.regularizers.get(signs_regularizer)
        self.gaussian_regularizer = keras.regularizers.get(gaussian_regularizer)
        self.scale_regularizer = keras.regularizers.get(scale_regularizer)
        self.signs_constraint = keras.constraints.get(signs_constraint)
        self.gaussian_constraint = keras.constraints.get(gaussian_constraint)
        self.scale_constraint = keras.constraints.get(scale_constraint)

    def build_kernel(self, input_dim):
        self.build_fastfood(
            input_dim,
            self.units,
            signs={
                "initializer": self.signs_initializer,
                "regularizer": self.signs_regularizer,
                "constraint": self.signs_constraint,
            },
            gaussian={
                "initializer": self.gaussian_initializer,
                "regularizer": self.gaussian_regularizer,
                "constraint": self.gaussian_constraint,
            },
            scale={
                "initializer": self.scale_initializer,
                "regularizer": self.scale_regularizer,
                "constraint": self.scale_constraint,
            },
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
        return self.fastfood_projection(inputs, self.normalization)

    def affine(self, inputs):
        """S H G Pi H B x + bias; in one pass where the layer computes in its
        working dtype (float32, float64; not under mixed precision, whose bias
        is added in float16 after the cast)."""
        dtype = keras.backend.standardize_dtype(self.compute_dtype)
        if self.bias is None or working_dtype(dtype) != dtype:
            return super().affine(inputs)
        return self.fastfood_projection(inputs, self.normalization, bias=self.bias)

    @classmethod
    def from_dense(cls, dense, seed=None):
        """A FastfoodDense fitted in closed form to a trained `keras.layers.Dense`.

        Keeps the Dense layer's name, `units`, `activation`, `use_bias`,
        dtype policy and bias, built for its input width. B and Pi are drawn
        at random (from `seed`); then G and S are the least-squares fit of
        the trained kernel (see `docs/compress.md`). A Fastfood matrix keeps
        only a part of a dense kernel, so `compress` follows this with a fit
        on data. Regularizers and constraints are not carried over.

        Args:
            dense: a built, float `keras.layers.Dense`.
            seed: integer or `None`, the layer's seed (B and Pi).

        Returns:
            A built `FastfoodDense`.

        Example:

        >>> dense = keras.layers.Dense(64)
        >>> dense.build((None, 32))
        >>> layer = FastfoodDense.from_dense(dense, seed=0)
        >>> layer.name == dense.name, layer.units, layer.input_dim
        (True, 64, 32)
        """
        return cls._replace_dense(dense, _project_fastfood, seed=check_seed(seed))

    def get_config(self):
        config = super().get_config()
        initializer = keras.initializers.serialize
        regularizer = keras.regularizers.serialize
        constraint = keras.constraints.serialize
        config.update(
            {
                "signs_initializer": initializer(self.signs_initializer),
                "gaussian_initializer": initializer(self.gaussian_initializer),
                "scale_initializer": initializer(self.scale_initializer),
                "signs_regularizer": regularizer(self.signs_regularizer),
                "gaussian_regularizer": regularizer(self.gaussian_regularizer),
                "scale_regularizer": regularizer(self.scale_regularizer),
                "signs_constraint": constraint(self.signs_constraint),
                "gaussian_constraint": constraint(self.gaussian_constraint),
                "scale_constraint": constraint(self.scale_constraint),
                "seed": self.seed,
            }
        )
        return config


def _hadamard_rows(matrix):
    """H @ matrix for an `(n, m)` NumPy matrix (H unnormalised, n a power of
    two), in float64."""
    transformed = fwht(np.ascontiguousarray(matrix.T, dtype="float32"))
    return np.asarray(ops.convert_to_numpy(transformed), dtype="float64").T


def _project_fastfood(kernel, layer):
    """G and S of `layer` fitted to the Dense `kernel` `(d, units)`, B and Pi
    kept (Eq. 14).

    Block b computes the rows `normalization * S H G Pi H B` of W = K^T.
    With `A = Pi H B` restricted to the d real inputs and H H = n I,
    `||c H G A - T||_F` equals `sqrt(n) ||c G A - H T / n||_F`, so each
    g_k has a closed form (row `k` of `A` against row `k` of `H T / n`).
    Given G, each s_j is then the least-squares gain of row j. Rows past
    `units` in the last block are fitted to zero.
    """
    signs = ops.convert_to_numpy(layer.signs)
    permutation = ops.convert_to_numpy(layer.permutation)
    normalization = layer.normalization
    d, units = kernel.shape
    blocks, n = signs.shape
    target = np.zeros((blocks * n, d))
    target[:units] = kernel.T
    target = target.reshape(blocks, n, d)
    hadamard_of_signs = _hadamard_rows(np.eye(n)[:, :d])  # H restricted to d columns
    gaussian = np.empty((blocks, n))
    rows = np.empty((blocks, n, d))
    for block in range(blocks):
        mixed = hadamard_of_signs[permutation[block]] * signs[block][:d]  # Pi H B
        residual = _hadamard_rows(target[block]) / n
        gaussian[block] = np.sum(mixed * residual, axis=1) / (
            normalization * np.sum(mixed * mixed, axis=1)
        )
        rows[block] = normalization * _hadamard_rows(gaussian[block][:, None] * mixed)
    rows = rows.reshape(blocks * n, d)[:units]
    norms = np.sum(rows * rows, axis=1)
    gains = np.sum(rows * kernel.T, axis=1) / np.where(norms > 0, norms, 1.0)
    return {"gaussian": gaussian, "scale": gains}
