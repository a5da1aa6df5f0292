"""PyTorch's differences (see the package's docstring), defined at import
so that torch.compile finds them made, never tracing their definition."""

import contextlib
import warnings

import torch

from keras_crosswise._backend_internals import torch_real_tensors


def device_kind(x=None):
    if x is not None and hasattr(x, "device"):
        return "gpu" if x.device.type == "cuda" else "cpu"
    return "gpu" if torch.cuda.is_available() else "cpu"


def matmul(x, matrix):
    # Not `ops.matmul`: Keras's torch matmul (3.15) computes two float64
    # tensors in float32 (its `result_type` of two torch dtypes), 1e-4 off
    # at n = 1024.
    return torch.matmul(x, matrix)


def densified(x):
    if isinstance(x, torch.Tensor) and x.layout != torch.strided:
        return x.to_dense()
    return x


@contextlib.contextmanager
def quiet_trace():
    """Silences torch's TracerWarning for a value the trace must record as a
    constant: the sizes and constants are fixed by the model. Only under a
    torch.jit trace (ONNX export), where the warning is raised; elsewhere
    (and under torch.compile, which cannot trace `warnings.catch_warnings`)
    it does nothing."""
    if not torch.jit.is_tracing():
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


# NumPy-made constants (Hadamard factors, block offsets) kept per key, dtype
# and device, so that torch.compile finds them instead of tracing the NumPy
# that makes them (it cannot: a graph break each). The layers make theirs
# once in `build`, outside any trace, where the keras.ops path runs there;
# where the native kernel runs instead, the first export makes them, real.
_CONSTANTS = {}
CACHES_CONSTANTS = True


def cached(key, make, like):
    full_key = (key, str(like.device))
    value = _CONSTANTS.get(full_key)
    if value is None:
        with torch_real_tensors(like):
            value = make().to(like.device)
        _CONSTANTS[full_key] = value
    return value


def custom_gradients_skipped():
    # No gradient can be wanted, or Keras's torch custom-gradient wrapper
    # cannot be traced (torch.jit, torch.export, torch.compile).
    return (
        torch.jit.is_tracing()
        or torch.compiler.is_compiling()
        or not torch.is_grad_enabled()
    )


def gathers_columns():
    """Whether to run `fastfood_columns`: except while `torch.jit` or
    `torch.export` trace for an exporter. It gathers the permutation along
    the rows' last axis in place; the transposed gather (an embedding
    lookup) that every ONNX exporter takes cost PyTorch a strided gather and
    two copies: 60% of an eager FastfoodDense(4096) forward."""
    return not (torch.jit.is_tracing() or torch.compiler.is_exporting())


def scale_shift(x, scale, shift):
    """`ScaleShift` where `keeps_output` says it serves, else `None`."""
    return ScaleShift.apply(x, scale, shift) if keeps_output(x, scale) else None


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


def fastfood_columns(x, signs, permutation, gaussian, transform, fused_step=None):
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
