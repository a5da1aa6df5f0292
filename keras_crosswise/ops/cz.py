"""The c&z operand (Eq. 5-6) and its higher-order expansion (Sec. 3.1)."""

from keras import ops

from keras_crosswise import _backends
from keras_crosswise._tensors import as_tensors


def _static_last_dim(tensor, name):
    shape = ops.shape(tensor)
    if len(shape) < 1:
        raise ValueError(f"`{name}` must have at least one axis; got a scalar.")
    return shape[-1]


def cz(c, x):
    """The c&z operand `{c, x}_c&z` of the paper (Eq. 6).

    Multiplies `x` by the diagonal `c` over the last axis, which equals
    `diag(c) @ x` for every vector along the leading axes.

    Args:
        c: tensor of shape `(n,)`, the diagonal of W_hat.
        x: tensor of shape `(..., n)`.

    Returns:
        A tensor of shape `(..., n)` with `c[i] * x[..., i]`.

    Example:

    >>> out = cz(keras.ops.array([1.0, 2.0]), keras.ops.array([[3.0, 4.0]]))
    >>> print(keras.ops.convert_to_numpy(out))
    [[3. 8.]]
    """
    c, x = as_tensors(c, x)
    if len(ops.shape(c)) != 1:
        raise ValueError(
            f"`c` must be a vector of shape (n,); got shape {tuple(ops.shape(c))}."
        )
    n_c, n_x = ops.shape(c)[0], _static_last_dim(x, "x")
    if n_c is not None and n_x is not None and n_c != n_x:
        raise ValueError(
            "The last dimension of `x` must equal the length of `c`; "
            f"got x.shape[-1]={n_x} and c.shape=({n_c},)."
        )
    return x * c


def scale_shift(x, scale, shift=None):
    """`x * scale + shift`, for the diagonal adapters, with `scale` and `shift`
    (optional) broadcast against `x`.

    On eager PyTorch, with a gradient, the backward keeps the output instead
    of `x`, and recovers `x` from it (`_backends.torch.ScaleShift`): one
    activation less where the next op keeps the output for its own backward
    (a product with a learned operand, an activation that keeps its
    output), the same where it does not (keras-hub's attention keeps
    transposed copies). JAX's and TensorFlow's compiled graphs, and
    `torch.compile`, plan their own memory: there, plain products.
    """
    x, scale = as_tensors(x, scale)
    if shift is not None:
        (shift,) = as_tensors(shift)
    kept = _backends.scale_shift(x, scale, shift)
    if kept is not None:
        return kept
    output = x * scale
    return output if shift is None else output + shift


def cz_expand(x, kernels):
    """The higher-order c&z operand of Sec. 3.1 (Fig. 2).

    Applies `k` diagonals to the same input and concatenates the results
    block by block: `[kernels[0] * x, kernels[1] * x, ...]`. This is the
    product of `x` with a vertical stack of `k` diagonal matrices, in the order
    of the paper's reference code (`c_and_z(X, K)` with samples as rows).

    Args:
        x: tensor of shape `(..., n)`.
        kernels: tensor of shape `(k, n)`, one diagonal per row.

    Returns:
        A tensor of shape `(..., k * n)`.
    """
    x, kernels = as_tensors(x, kernels)
    kernel_shape = tuple(ops.shape(kernels))
    if len(kernel_shape) != 2:
        raise ValueError(f"`kernels` must have shape (k, n); got shape {kernel_shape}.")
    num_blocks, n = kernel_shape
    n_x = _static_last_dim(x, "x")
    if n is not None and n_x is not None and n != n_x:
        raise ValueError(
            "The last dimension of `x` must equal `kernels.shape[1]`; "
            f"got x.shape[-1]={n_x} and kernels.shape={kernel_shape}."
        )
    # [x, x, ..., x] * [kernels[0], kernels[1], ...]: no reshape of x needed.
    tiled = ops.tile(x, [1] * (len(ops.shape(x)) - 1) + [num_blocks])
    return tiled * ops.reshape(kernels, (num_blocks * n,))
