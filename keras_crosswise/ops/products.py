"""Matrix products of Sec. 3.1 (Eq. 7-11): Kronecker, Khatri-Rao, face-splitting."""

from keras import ops

from keras_crosswise._tensors import as_tensors, static_size
from keras_crosswise._validation import MAX_WEIGHT_ELEMENTS


def _matrix_shape(tensor, name):
    shape = tuple(ops.shape(tensor))
    if len(shape) != 2:
        raise ValueError(f"`{name}` must be a 2-D matrix; got shape {shape}.")
    return shape


def _check_product_size(name, shape):
    """Refuse a product over MAX_WEIGHT_ELEMENTS before it is formed."""
    sizes = [static_size(size) for size in shape]
    if None in sizes:
        return
    count = sizes[0] * sizes[1]
    if count > MAX_WEIGHT_ELEMENTS:
        raise ValueError(
            f"`{name}` of these inputs would be a {sizes[0]} x {sizes[1]} matrix "
            f"({count * 4 / 2**30:.1f} GiB of float32), over the limit of "
            f"{MAX_WEIGHT_ELEMENTS} elements (1 GiB)."
        )


def kronecker(a, b):
    """Kronecker product `a ⊗ b`.

    Args:
        a: matrix of shape `(i, j)`.
        b: matrix of shape `(k, l)`.

    Returns:
        Matrix of shape `(i * k, j * l)` with
        `out[p * k + r, q * l + s] = a[p, q] * b[r, s]`.
    """
    a, b = as_tensors(a, b)
    (a_rows, a_cols), (b_rows, b_cols) = _matrix_shape(a, "a"), _matrix_shape(b, "b")
    _check_product_size("kronecker", (a_rows * b_rows, a_cols * b_cols))
    outer = a[:, None, :, None] * b[None, :, None, :]
    return ops.reshape(outer, (a_rows * b_rows, a_cols * b_cols))


def khatri_rao(a, b):
    """Khatri-Rao product `a ⊙ b`: the column-wise Kronecker product.

    Args:
        a: matrix of shape `(i, n)`.
        b: matrix of shape `(k, n)`, same number of columns.

    Returns:
        Matrix of shape `(i * k, n)` whose column `q` is `kron(a[:, q], b[:, q])`.
    """
    a, b = as_tensors(a, b)
    (i, n_a), (k, n_b) = _matrix_shape(a, "a"), _matrix_shape(b, "b")
    if n_a != n_b:
        raise ValueError(
            "`a` and `b` must have the same number of columns; "
            f"got a.shape={(i, n_a)} and b.shape={(k, n_b)}."
        )
    _check_product_size("khatri_rao", (i * k, n_a))
    return ops.reshape(a[:, None, :] * b[None, :, :], (i * k, n_a))


def face_splitting(a, b):
    """Face-splitting product: the row-wise Kronecker product.

    Args:
        a: matrix of shape `(m, j)`.
        b: matrix of shape `(m, l)`, same number of rows.

    Returns:
        Matrix of shape `(m, j * l)` whose row `p` is `kron(a[p], b[p])`.
    """
    a, b = as_tensors(a, b)
    (m_a, a_cols), (m_b, b_cols) = _matrix_shape(a, "a"), _matrix_shape(b, "b")
    if m_a != m_b:
        raise ValueError(
            "`a` and `b` must have the same number of rows; "
            f"got a.shape={(m_a, a_cols)} and b.shape={(m_b, b_cols)}."
        )
    _check_product_size("face_splitting", (m_a, a_cols * b_cols))
    return ops.reshape(a[:, :, None] * b[:, None, :], (m_a, a_cols * b_cols))
