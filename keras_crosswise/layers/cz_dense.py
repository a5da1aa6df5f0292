"""CZDense: a dense layer whose weight matrix is made of diagonal blocks."""

import keras
import numpy as np
from keras import ops

from keras_crosswise._tensors import zero_pad_last_axis
from keras_crosswise._validation import check_positive_int, check_weight_size
from keras_crosswise.initializers.identity_diagonal import IdentityDiagonal
from keras_crosswise.layers._structured_dense import StructuredDense


@keras.saving.register_keras_serializable(package="keras_crosswise")
class CZDense(StructuredDense):
    """Dense layer with a diagonal-block weight matrix (Dr. of Crosswise).

    Computes `output = activation(W_hat @ x + bias)` (Eq. 3), where W_hat, of
    shape `(units, n)` for `n` input features, is a block matrix of diagonal
    blocks stored only by its diagonals (the vector `c` of Eq. 5, held in
    `kernel`). The product is the c&z operand of Eq. 6, `c * x`:

    - `units == n`: W_hat is one diagonal; `n` weights.
    - `units > n`: ceil(units / n) diagonal blocks stacked vertically (Sec. 3.1,
      Fig. 2), the output trimmed to `units`; `units` weights. Output `j` is
      `kernel[j] * x[j % n]`.
    - `units < n`: ceil(n / units) diagonal blocks side by side, the input
      zero-padded to a multiple of `units`; `n` weights. Input `i` reaches only
      output `i % units`, with weight `kernel[i]`.

    So `kernel` has `max(n, units)` entries instead of the `n * units` of
    `Dense`. Note that a stack of CZDense layers never mixes features: each
    output depends on the inputs of one residue class only. Put a `Dense` (or
    FastfoodDense) layer where features must interact, or pass `rank=r`: the
    layer then computes `(W_hat + U V) x` with `U` = `low_rank_up` of shape
    `(units, r)` and `V` = `low_rank_down` of shape `(r, n)` (stored as
    their transposes, `x @ V^T @ U^T`), which mixes every input into every
    output for `r * (n + units)` more weights ("structure + low rank", as
    Pixelated Butterfly does with sparse + low rank).

    Args:
        units: positive integer, dimensionality of the output space.
        activation: activation function; `None` means linear.
        use_bias: whether the layer adds a bias vector.
        kernel_initializer: initializer of the diagonal weights. Defaults to
            `IdentityDiagonal()` (all ones), so a square layer starts as the
            identity; see docs/guide.md for how this default was chosen.
        bias_initializer: initializer of the bias vector.
        kernel_regularizer: regularizer applied to the diagonal weights, e.g.
            `keras_crosswise.regularizers.IdentityL2`.
        bias_regularizer: regularizer applied to the bias vector.
        activity_regularizer: regularizer applied to the output.
        kernel_constraint: constraint applied to the diagonal weights.
        bias_constraint: constraint applied to the bias vector.
        rank: `None` (the default: diagonal blocks only) or a positive
            integer r, the rank of a learned low-rank term added to W_hat.
        low_rank_initializer: initializer of both low-rank factors.
        low_rank_regularizer: regularizer applied to both low-rank factors.
        low_rank_constraint: constraint applied to both low-rank factors.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        N-D tensor with shape `(..., n)`, rank at least 2.

    Output shape:
        N-D tensor with shape `(..., units)`.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input(shape=(64,)),
    ...     keras_crosswise.layers.CZDense(256, activation="relu"),
    ...     keras.layers.Dense(10),
    ... ])
    >>> tuple(model.layers[0].kernel.shape)  # 256 weights, not 64 * 256
    (256,)

    References:
        Curtó, Zarza et al., "Doctor of Crosswise: Reducing
        Over-parametrization in Neural Networks", arXiv:1905.10324 (Eq. 3-6,
        Sec. 3.1).
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer=None,
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        rank=None,
        low_rank_initializer="glorot_uniform",
        low_rank_regularizer=None,
        low_rank_constraint=None,
        **kwargs,
    ):
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
        if kernel_initializer is None:
            kernel_initializer = IdentityDiagonal()
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.rank = None if rank is None else check_positive_int("rank", rank)
        self.low_rank_initializer = keras.initializers.get(low_rank_initializer)
        self.low_rank_regularizer = keras.regularizers.get(low_rank_regularizer)
        self.low_rank_constraint = keras.constraints.get(low_rank_constraint)

    def build_kernel(self, input_dim):
        kernel_shape = (max(input_dim, self.units),)
        check_weight_size(self.__class__.__name__, "kernel", kernel_shape)
        self.kernel = self.add_weight(
            name="kernel",
            shape=kernel_shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.rank is not None:
            for name, shape in (
                ("low_rank_down", (input_dim, self.rank)),
                ("low_rank_up", (self.rank, self.units)),
            ):
                check_weight_size(self.__class__.__name__, name, shape)
                weight = self.add_weight(
                    name=name,
                    shape=shape,
                    initializer=self.low_rank_initializer,
                    regularizer=self.low_rank_regularizer,
                    constraint=self.low_rank_constraint,
                )
                setattr(self, name, weight)

    def linear(self, inputs):
        """W_hat x (the c&z products of the diagonal blocks, Eq. 6, Fig. 2),
        plus U V x with `rank`."""
        outputs = self._diagonal_blocks(inputs)
        if self.rank is not None:
            down = ops.matmul(inputs, self.low_rank_down)
            outputs = outputs + ops.matmul(down, self.low_rank_up)
        return outputs

    def _diagonal_blocks(self, inputs):
        ndim = len(inputs.shape)
        if self.units >= self.input_dim:
            # Vertical diagonal blocks: output j sees input j % n (Fig. 2).
            num_blocks = -(-self.units // self.input_dim)
            if num_blocks > 1:
                inputs = ops.tile(inputs, [1] * (ndim - 1) + [num_blocks])
            if num_blocks * self.input_dim != self.units:
                inputs = inputs[..., : self.units]
            outputs = inputs * self.kernel
        else:
            # Horizontal diagonal blocks: output j sums inputs j, j + units, ...
            num_blocks = -(-self.input_dim // self.units)
            scaled = inputs * self.kernel
            padding = num_blocks * self.units - self.input_dim
            if padding:  # < units < input_dim
                scaled = zero_pad_last_axis(scaled, padding)
            blocks = ops.reshape(
                scaled, (*ops.shape(scaled)[:-1], num_blocks, self.units)
            )
            outputs = ops.sum(blocks, axis=-2)
        return outputs

    @classmethod
    def from_dense(cls, dense):
        """A CZDense closest to a trained `keras.layers.Dense`.

        Keeps the Dense layer's name, `units`, `activation`, `use_bias`,
        dtype policy and bias, built for its input width. The diagonals are
        the entries of the trained kernel that the diagonal blocks keep:
        every other entry of W_hat is zero, so this is the exact
        least-squares (Frobenius) projection of the kernel onto the
        structure (Eq. 5-6, Sec. 3.1). Regularizers and constraints are not
        carried over.

        Args:
            dense: a built, float `keras.layers.Dense`.

        Returns:
            A built `CZDense`.

        Example:

        >>> dense = keras.layers.Dense(8)
        >>> dense.build((None, 8))
        >>> layer = CZDense.from_dense(dense)
        >>> kernel = keras.ops.convert_to_numpy(dense.kernel)
        >>> diagonal = keras.ops.convert_to_numpy(layer.kernel)
        >>> print(np.allclose(diagonal, np.diag(kernel)))
        True
        """
        return cls._replace_dense(dense, _project_diagonal_blocks)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "rank": self.rank,
                "low_rank_initializer": keras.initializers.serialize(
                    self.low_rank_initializer
                ),
                "low_rank_regularizer": keras.regularizers.serialize(
                    self.low_rank_regularizer
                ),
                "low_rank_constraint": keras.constraints.serialize(
                    self.low_rank_constraint
                ),
            }
        )
        return config


def _project_diagonal_blocks(kernel, layer):
    """The entries of the Dense `kernel` `(d, units)` that W_hat keeps."""
    d, units = kernel.shape
    if units >= d:  # output j sees input j % d
        columns = np.arange(units)
        return {"kernel": kernel[columns % d, columns]}
    rows = np.arange(d)  # input i reaches output i % units
    return {"kernel": kernel[rows, rows % units]}
