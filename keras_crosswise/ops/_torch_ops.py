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


# Below this, a scale is taken for zero: the input is not recovered from the
# output (`ScaleShift`), it is kept.
RECOVERABLE_SCALE = 1e-3


def keeps_output(x, scale):
    """Whether `ScaleShift` serves `x * scale` now: eager autograd (not
    torch.compile, which plans its own memory, nor a trace for export) on
    tensors of which one needs a gradient."""
    return (
        torch.is_grad_enabled()
        and not (torch.compiler.is_compiling() or torch.jit.is_tracing())
        and not torch.compiler.is_exporting()
        and all(isinstance(t, torch.Tensor) for t in (x, scale))
        and (x.requires_grad or scale.requires_grad)
    )


class ScaleShift(torch.autograd.Function):
    """`x * scale + shift` (`shift` may be `None`; both broadcast against `x`)
    whose backward keeps the output instead of `x`: where the next op keeps
    the output for its own backward, the product costs no memory of its
    own. `x` is recovered as `(output - shift) / scale`; where
    some entry of `scale` is below `RECOVERABLE_SCALE` in magnitude (read
    once, at the forward), `x` is kept instead."""

    @staticmethod
    def forward(ctx, x, scale, shift):
        output = x * scale
        if shift is not None:
            output = output + shift
        recover = bool((scale.detach().abs() >= RECOVERABLE_SCALE).all())
        ctx.recover = recover
        ctx.save_for_backward(output if recover else x, scale, shift)
        return output

    @staticmethod
    def backward(ctx, upstream):
        kept, scale, shift = ctx.saved_tensors
        x_gradient = scale_gradient = shift_gradient = None
        if ctx.needs_input_grad[0]:
            x_gradient = (upstream * scale).to(kept.dtype)
        if ctx.needs_input_grad[1]:
            x = kept
            if ctx.recover:
                x = (kept if shift is None else kept - shift) / scale
            scale_gradient = (upstream * x).sum_to_size(scale.shape).to(scale.dtype)
        if shift is not None and ctx.needs_input_grad[2]:
            shift_gradient = upstream.sum_to_size(shift.shape).to(shift.dtype)
        return x_gradient, scale_gradient, shift_gradient
