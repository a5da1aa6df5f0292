"""The Fastfood product H G Pi H B of McKernel (Eq. 14), block by block."""

import numpy as np
from keras import ops

from keras_crosswise.ops._tensors import as_tensors
from keras_crosswise.ops.hadamard import fwht


def fastfood(x, signs, permutation, gaussian):
    """Apply `H G Pi H B` (Eq. 14 without C and 1 / (sigma sqrt(n))) per block.

    Each of the `blocks` rows of `signs`, `permutation` and `gaussian` defines
    one independent n x n block; the results are concatenated block by block.
    H is the unnormalised Walsh-Hadamard matrix (`fwht`), B = diag(signs),
    `(Pi v)[i] = v[permutation[i]]` and G = diag(gaussian).

    Args:
        x: float tensor of shape `(..., n)`, n a power of two (zero-pad first).
        signs: `(blocks, n)`, the diagonal of B.
        permutation: `(blocks, n)` integer tensor, each row a permutation of
            `0 .. n - 1`.
        gaussian: `(blocks, n)`, the diagonal of G.

    Returns:
        A tensor of shape `(..., blocks * n)` in the dtype of `x`.
    """
    x, signs, permutation, gaussian = as_tensors(x, signs, permutation, gaussian)
    blocks, n = (int(size) for size in signs.shape)  # weights have static shapes
    leading = ops.shape(x)[:-1]
    rows = ops.reshape(x, (-1, 1, n)) * signs  # (batch, blocks, n)
    rows = ops.reshape(fwht(rows), (-1, blocks * n))
    # Row b of the permutation indexes into block b of the flattened rows.
    # Gathering rows of the transpose is an embedding lookup on every backend,
    # which all ONNX exporters support (a gather along axis 1 is not).
    offsets = (np.arange(blocks)[:, None] * n).astype("int32")
    index = ops.reshape(ops.cast(permutation, "int32") + offsets, (-1,))
    rows = ops.transpose(ops.take(ops.transpose(rows), index, axis=0))
    rows = fwht(ops.reshape(rows, (-1, blocks, n)) * gaussian)
    return ops.reshape(rows, (*leading, blocks * n))
