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


def run(x, scale, diagonal=None, permutation=None):
    """`scale * (x[..., permutation] * diagonal) @ H_n` over the last axis of a
    float32/float64 CPU tensor, computed now (no autograd). `diagonal` and
    `permutation` (each row a permutation of 0..n-1), of one shape
    `(blocks, n)`, serve row r by their row r % blocks; `None` for none.
    Every size and index is checked before the kernel reads memory: a
    ValueError, never a read outside a tensor."""
    kernel = _kernels.get(x.dtype)
    if kernel is None:
        raise ValueError(
            f"keras_crosswise::fwht takes float32 or float64; got {x.dtype}."
        )
    x = x.contiguous()
    n = x.shape[-1]
    tables = [
        _table(name, table, dtype, n)
        for name, table, dtype in (
            ("diagonal", diagonal, x.dtype),
            ("permutation", permutation, torch.int32),
        )
    ]
    shapes = {tuple(table.shape) for table in tables if table is not None}
    if len(shapes) > 1:
        raise ValueError(
            "keras_crosswise::fwht: `diagonal` and `permutation` must have one "
            f"shape (blocks, n); got {tuple(diagonal.shape)} and "
            f"{tuple(permutation.shape)}."
        )
    pointers = [None if table is None else table.data_ptr() for table in tables]
    blocks = next(iter(shapes))[0] if shapes else 1
    out = torch.empty(x.shape, dtype=x.dtype)
    rows = x.numel() // n
    status = kernel(x.data_ptr(), out.data_ptr(), rows, n, scale, *pointers, blocks)
    if status == -2:  # the kernel's own check, behind _table's
        raise ValueError(_outside(n))
    if status != 0:
        raise ValueError(
            f"keras_crosswise::fwht: the last axis must be a power of two; got {n}."
        )
    return out


def _outside(n):
    return f"keras_crosswise::fwht: `permutation` holds indices outside 0..{n - 1}."


def _table(name, table, dtype, n):
    """`table` as a contiguous `(blocks, n)` tensor of `dtype`, checked: its
    last axis is n and, for the permutation, every index is in 0..n-1 (read
    before the cast, which would wrap a large int64)."""
    if table is None:
        return None
    if table.dim() != 2 or table.shape[-1] != n:
        raise ValueError(
            f"keras_crosswise::fwht: `{name}` must have shape (blocks, {n}); "
            f"got {tuple(table.shape)}."
        )
    if name == "permutation" and table.numel():
        low, high = torch.aminmax(table.detach())
        if int(low) < 0 or int(high) >= n:
            raise ValueError(_outside(n))
    return table.detach().to(dtype).contiguous()


def fwht(x, scale):
    """The transform for `hadamard.fwht`: the op where autograd or
    torch.compile needs it, else the kernel directly."""
    if torch.compiler.is_compiling() or (x.requires_grad and torch.is_grad_enabled()):
        return _op(x, scale)
    return run(x, scale)


def runs_directly(x, *tables):
    """Whether `run` serves `x` (and the `tables` it reads) now: the kernel
    loaded, an eager call (no torch.compile, torch.jit or torch.export
    trace), CPU tensors of one float32/float64 dtype that need no gradient,
    `x` a plain tensor (not a subclass)."""
    if _op is None or torch.compiler.is_compiling() or torch.jit.is_tracing():
        return False
    if type(x) is not torch.Tensor:
        return False
    grad = torch.is_grad_enabled()
    return all(
        isinstance(tensor, torch.Tensor)
        and tensor.dtype is x.dtype
        and tensor.dtype in _kernels
        and tensor.device.type == "cpu"
        and not (grad and tensor.requires_grad)
        for tensor in (x, *tables)
    )


def fastfood_step(*tensors):
    """`(rows, diagonal, permutation=None) -> (rows[:, permutation] * diagonal)
    @ H_n` in one pass of the kernel (`run`), where `runs_directly(*tensors)`;
    else `None`."""
    if not runs_directly(*tensors):
        return None
    return lambda rows, diagonal, permutation=None: run(
        rows, 1.0, diagonal, permutation
    )


def register(library):
    """Define `keras_crosswise::fwht` on the library's kernels (once)."""
    global _op
    if _op is not None:
        return _op
    _kernels.update(
        {
            torch.float32: library.crosswise_fastfood_step_f32,
            torch.float64: library.crosswise_fastfood_step_f64,
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
