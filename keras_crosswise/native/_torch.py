"""The native kernel in PyTorch: a `torch.library` custom op (CPU) with
autograd and a fake implementation, so `torch.compile(fullgraph=True)`
captures it as one node. Eager calls that need no gradient skip the
dispatcher and call the kernel directly (tens of microseconds less)."""

import torch

_op = None
_kernels = {}


def op():
    """The registered op, or `None` before `register`."""
    return _op


def run(x, scale):
    """`scale * x @ H_n` over the last axis of a float32/float64 CPU tensor,
    computed now (no autograd)."""
    kernel = _kernels.get(x.dtype)
    if kernel is None:
        raise ValueError(
            f"keras_crosswise::fwht takes float32 or float64; got {x.dtype}."
        )
    x = x.contiguous()
    out = torch.empty(x.shape, dtype=x.dtype)
    n = x.shape[-1]
    if kernel(x.data_ptr(), out.data_ptr(), x.numel() // n, n, scale) != 0:
        raise ValueError(
            f"keras_crosswise::fwht: the last axis must be a power of two; got {n}."
        )
    return out


def fwht(x, scale):
    """The transform for `hadamard.fwht`: the op where autograd or
    torch.compile needs it, else the kernel directly."""
    if torch.compiler.is_compiling() or (x.requires_grad and torch.is_grad_enabled()):
        return _op(x, scale)
    return run(x, scale)


def register(library):
    """Define `keras_crosswise::fwht` on the library's kernels (once)."""
    global _op
    if _op is not None:
        return _op
    _kernels.update(
        {
            torch.float32: library.crosswise_fwht_f32,
            torch.float64: library.crosswise_fwht_f64,
        }
    )

    @torch.library.custom_op(
        "keras_crosswise::fwht", mutates_args=(), device_types="cpu"
    )
    def transform(x: torch.Tensor, scale: float) -> torch.Tensor:
        """`scale * x @ H_n` over the last axis of a float32/float64 CPU tensor."""
        return run(x, scale)

    @transform.register_fake
    def _(x, scale):
        return torch.empty(x.shape, dtype=x.dtype, device=x.device)

    def setup_context(ctx, inputs, output):
        ctx.scale = inputs[1]

    def backward(ctx, grad):
        # H is symmetric: the gradient is the same transform of the gradient.
        return transform(grad, ctx.scale), None

    transform.register_autograd(backward, setup_context=setup_context)
    _op = transform
    return _op
