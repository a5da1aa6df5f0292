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
