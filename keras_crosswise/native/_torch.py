"""The native kernel in PyTorch: a `torch.library` custom op (CPU) with
autograd and a fake implementation, so `torch.compile(fullgraph=True)`
captures it as one node."""

import torch

_op = None


def op():
    """The registered op, or `None` before `register`."""
    return _op


def register(library):
    """Define `keras_crosswise::fwht` on the library's kernels (once)."""
    global _op
    if _op is not None:
        return _op
    kernels = {
        torch.float32: library.crosswise_fwht_f32,
        torch.float64: library.crosswise_fwht_f64,
    }

    @torch.library.custom_op(
        "keras_crosswise::fwht", mutates_args=(), device_types="cpu"
    )
    def fwht(x: torch.Tensor, scale: float) -> torch.Tensor:
        """`scale * x @ H_n` over the last axis of a float32/float64 CPU tensor."""
        if x.dtype not in kernels:
            raise ValueError(
                f"keras_crosswise::fwht takes float32 or float64; got {x.dtype}."
            )
        x = x.contiguous()
        out = torch.empty(x.shape, dtype=x.dtype)
        n = x.shape[-1]
        status = kernels[x.dtype](
            x.data_ptr(), out.data_ptr(), x.numel() // n, n, scale
        )
        if status != 0:
            raise ValueError(
                f"keras_crosswise::fwht: the last axis must be a power of two; got {n}."
            )
        return out

    @fwht.register_fake
    def _(x, scale):
        return torch.empty(x.shape, dtype=x.dtype, device=x.device)

    def setup_context(ctx, inputs, output):
        ctx.scale = inputs[1]

    def backward(ctx, grad):
        # H is symmetric: the gradient is the same transform of the gradient.
        return fwht(grad, ctx.scale), None

    fwht.register_autograd(backward, setup_context=setup_context)
    _op = fwht
    return _op
