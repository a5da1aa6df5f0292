"""Least-squares projections of a trained Dense kernel onto our structures.

`K` is a Keras `Dense` kernel of shape `(d, units)`, so `y = x @ K`. Each
function returns the structured layer's new weights, by name, as NumPy.
"""

import numpy as np
from keras import ops

from keras_crosswise.ops.hadamard import fwht


def project_cz(kernel, units):
    """CZDense's diagonals closest to `kernel` in Frobenius norm: the entries
    the structure keeps (Eq. 5-6, Sec. 3.1); every other entry is zero in
    W_hat, so copying these is the exact least-squares projection."""
    d = kernel.shape[0]
    if units >= d:  # output j sees input j % d
        columns = np.arange(units)
        return {"kernel": kernel[columns % d, columns]}
    rows = np.arange(d)  # input i reaches output i % units
    return {"kernel": kernel[rows, rows % units]}


def _hadamard_rows(matrix):
    """H @ matrix for an `(n, m)` matrix (H unnormalised, n a power of two)."""
    transformed = fwht(np.ascontiguousarray(matrix.T, dtype="float32"))
    return np.asarray(ops.convert_to_numpy(transformed), dtype="float64").T


def project_fastfood(kernel, signs, permutation, normalization):
    """FastfoodDense's G and S from `kernel`, B and Pi kept (Eq. 14).

    Block b computes the rows `normalization * S H G Pi H B` of W = K^T.
    With `A = Pi H B` restricted to the d real inputs and H H = n I,
    `||c H G A - T||_F` equals `sqrt(n) ||c G A - H T / n||_F`, so each
    g_k has a closed form (row `k` of `A` against row `k` of `H T / n`).
    Given G, each s_j is then the least-squares gain of row j. Rows past
    `units` in the last block are fitted to zero. Returns
    `{"gaussian": (blocks, n), "scale": (units,)}`.
    """
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
