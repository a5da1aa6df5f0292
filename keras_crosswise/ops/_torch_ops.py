"""PyTorch-only pieces of the ops, defined at import (on the torch backend)
so that torch.compile finds them made, never tracing their definition."""

import torch


class PermuteColumns(torch.autograd.Function):
    """`rows[:, index]` for a permutation `index` (int64); the gradient
    gathers by the inverse permutation, as a gather's own gradient would
    scatter-add."""

    @staticmethod
    def forward(rows, index):
        return torch.index_select(rows, 1, index)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[1])

    @staticmethod
    def backward(ctx, upstream):
        (index,) = ctx.saved_tensors
        return torch.index_select(upstream, 1, torch.argsort(index)), None


def fastfood(x, signs, permutation, gaussian, transform, fused_step=None):
    """`ops.fastfood` in torch calls (eager and torch.compile; not for export):
    `x` of shape `(..., n)`, the `(blocks, n)` diagonals and permutation,
    `transform` the Walsh-Hadamard transform of rows, and
    `fused_step(rows, diagonal, permutation=None)` the native kernel's
    `(rows[:, permutation] * diagonal) @ H` in one pass, or `None`."""
    blocks, n = signs.shape
    leading = x.shape[:-1]
    rows = x.reshape(-1, n)
    if blocks > 1:
        rows = rows.repeat(1, blocks)
    rows = rows.reshape(-1, n)  # row r in block r % blocks
    if fused_step is not None:
        rows = fused_step(fused_step(rows, signs), gaussian, permutation)
        return rows.reshape(*leading, blocks * n)
    rows = transform((rows.reshape(-1, blocks * n) * signs.reshape(-1)).reshape(-1, n))
    # Row b of the permutation indexes into block b of the flattened rows.
    offsets = torch.arange(0, blocks * n, n, device=rows.device).unsqueeze(1)
    index = (permutation.to(torch.int64) + offsets).reshape(-1)
    rows = PermuteColumns.apply(rows.reshape(-1, blocks * n), index)
    rows = transform((rows * gaussian.reshape(-1)).reshape(-1, n))
    return rows.reshape(*leading, blocks * n)
