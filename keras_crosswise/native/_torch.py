"""The native kernel in PyTorch: a `torch.library` custom op (CPU) with
autograd and a fake implementation, so `torch.compile(fullgraph=True)`
captures it as one node. Eager calls that need no gradient skip the
dispatcher and call the kernel directly (tens of microseconds less).

The whole Fastfood product `S H G Pi H B x + bias` is a second op,
`keras_crosswise::fastfood`, one kernel call forward and one backward (a
third op, `keras_crosswise::fastfood_backward`, which recomputes the forward
row by row: the op keeps only its inputs for the backward)."""

import torch

_op = _fastfood_op = None
_steps = {}  # dtype -> crosswise_fastfood_step
_fastfood_calls = {}  # dtype -> (forward, backward)


def op():
    """The registered op, or `None` before `register`."""
    return _op


def run(x, factor, diagonal=None, permutation=None):
    """`factor * (x[..., permutation] * diagonal) @ H_n` over the last axis of a
    float32/float64 CPU tensor, computed now (no autograd). `diagonal` and
    `permutation` (each row a permutation of 0..n-1), of one shape
    `(blocks, n)`, serve row r by their row r % blocks; `None` for none.
    Every size and index is checked before the kernel reads memory: a
    ValueError, never a read outside a tensor."""
    step = _steps.get(x.dtype)
    if step is None:
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
    status = step(x.data_ptr(), out.data_ptr(), rows, n, factor, *pointers, blocks)
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


def fwht(x, factor):
    """The transform for `hadamard.fwht`: the op where autograd or
    torch.compile needs it, else the kernel directly."""
    if torch.compiler.is_compiling() or (x.requires_grad and torch.is_grad_enabled()):
        return _op(x, factor)
    return run(x, factor)


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
        and tensor.dtype in _steps
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


def _fastfood_sizes(x, signs, permutation, gaussian, scale, bias):
    """`(calls, rows, d, n, blocks, outputs)` of a fused Fastfood call,
    every size checked before the kernel reads memory (a ValueError naming
    the argument); the tensors must be contiguous CPU tensors of x's dtype
    (int32 for the permutation), as `fastfood_run` makes them."""
    calls = _fastfood_calls.get(x.dtype)
    if calls is None:
        raise ValueError(
            f"keras_crosswise::fastfood takes float32 or float64; got {x.dtype}."
        )
    if signs.dim() != 2:
        raise ValueError(
            "keras_crosswise::fastfood: `signs` must have shape (blocks, n); "
            f"got {tuple(signs.shape)}."
        )
    blocks, n = signs.shape
    d, outputs = x.shape[-1], scale.shape[-1]
    for name, table, shape in (
        ("permutation", permutation, (blocks, n)),
        ("gaussian", gaussian, (blocks, n)),
        ("scale", scale, (outputs,)),
        ("bias", bias, (outputs,)),
    ):
        if tuple(table.shape) != shape:
            raise ValueError(
                f"keras_crosswise::fastfood: `{name}` must have shape {shape}; "
                f"got {tuple(table.shape)}."
            )
    if x.dim() == 0 or not 0 < d <= n or not (blocks - 1) * n < outputs <= blocks * n:
        raise ValueError(
            f"keras_crosswise::fastfood: `x`'s last axis ({d} of shape "
            f"{tuple(x.shape)}) must be in 1..n = {n}, and `scale`'s length "
            f"({outputs}) in {(blocks - 1) * n + 1}..{blocks * n}."
        )
    return calls, x.numel() // d, d, n, blocks, outputs


def _ready(dtype, *tensors):
    return [t.detach().to(dtype).contiguous() for t in tensors]


def _fastfood_status(status, n):
    if status == -2:
        raise ValueError(
            "keras_crosswise::fastfood: each row of `permutation` must be a "
            f"permutation of 0..{n - 1}."
        )
    if status == -3:
        raise MemoryError("keras_crosswise::fastfood: no memory for two rows")
    if status != 0:
        raise ValueError(f"keras_crosswise::fastfood: bad sizes (n = {n}).")


def fastfood_run(x, signs, permutation, gaussian, scale, bias):
    """`scale * (H G Pi H B x)[..., :outputs] + bias` over the last axis of
    a float32/float64 CPU tensor `x` (`d <= n` features, zero-padded), block
    after block, computed now (no autograd). `signs`, `permutation`,
    `gaussian`: `(blocks, n)`; `scale`, `bias`: `(outputs,)`."""
    x = x.detach().contiguous()
    out = x.new_empty((*x.shape[:-1], scale.shape[-1]))
    _call(0, x, out, (signs, permutation, gaussian, scale, bias), [])
    return out


def fastfood_backward_run(x, upstream, signs, permutation, gaussian, scale):
    """The gradients `(x, signs, gaussian, scale, bias)` of `fastfood_run`'s
    output against `upstream`, computed now."""
    x = x.detach().contiguous()
    if tuple(upstream.shape) != (*x.shape[:-1], scale.shape[-1]):
        raise ValueError(
            "keras_crosswise::fastfood_backward: the upstream gradient must have "
            f"shape {(*x.shape[:-1], scale.shape[-1])}; got {tuple(upstream.shape)}."
        )
    (upstream,) = _ready(x.dtype, upstream)
    grads = [x.new_empty(t.shape) for t in (x, signs, gaussian, scale, scale)]
    _call(1, x, upstream, (signs, permutation, gaussian, scale), grads)
    return grads


def _call(direction, x, second, tables, results):
    """Kernel `direction` (0 forward, 1 backward) on `(x, second, sizes,
    *tables, *results)`: the sizes checked, the tables made contiguous in
    x's dtype (the permutation int32)."""
    signs, permutation, gaussian, scale, *bias = tables
    sizes = _fastfood_sizes(x, signs, permutation, gaussian, scale, *(bias or [scale]))
    calls, rows, d, n, blocks, outputs = sizes
    signs, gaussian, scale, *bias = _ready(x.dtype, signs, gaussian, scale, *bias)
    (permutation,) = _ready(torch.int32, permutation)
    pointers = [t.data_ptr() for t in (signs, permutation, gaussian, scale, *bias)]
    status = calls[direction](
        x.data_ptr(), second.data_ptr(), rows, d, n, blocks, outputs,
        *pointers, *(t.data_ptr() for t in results),
    )  # fmt: skip
    _fastfood_status(status, n)


def fastfood(x, signs, permutation, gaussian, scale, bias):
    """`fastfood_run` for `ops.fastfood`'s fused path: the op where autograd
    or torch.compile needs it, else the kernel directly."""
    if runs_directly(x, signs, gaussian, scale, bias):
        return fastfood_run(x, signs, permutation, gaussian, scale, bias)
    return _fastfood_op(x, signs, permutation, gaussian, scale, bias)


def register(library):
    """Define `keras_crosswise::fwht` and `keras_crosswise::fastfood` on the
    library's functions (once)."""
    global _op
    if _op is not None:
        return _op
    _steps.update(
        {
            torch.float32: library.crosswise_fastfood_step_f32,
            torch.float64: library.crosswise_fastfood_step_f64,
        }
    )
    _fastfood_calls.update(
        {
            torch.float32: (
                library.crosswise_fastfood_forward_f32,
                library.crosswise_fastfood_backward_f32,
            ),
            torch.float64: (
                library.crosswise_fastfood_forward_f64,
                library.crosswise_fastfood_backward_f64,
            ),
        }
    )
    _register_fastfood()

    @torch.library.custom_op(
        "keras_crosswise::fwht", mutates_args=(), device_types="cpu"
    )
    def transform(x: torch.Tensor, factor: float) -> torch.Tensor:
        """`factor * x @ H_n` over the last axis of a float32/float64 CPU tensor."""
        return run(x, factor)

    @transform.register_fake
    def _(x, factor):
        return torch.empty(x.shape, dtype=x.dtype, device=x.device)

    def setup_context(ctx, inputs, output):
        ctx.factor = inputs[1]

    def backward(ctx, grad):
        # H is symmetric: the gradient is the same transform of the gradient.
        return transform(grad, ctx.factor), None

    transform.register_autograd(backward, setup_context=setup_context)
    _op = transform
    return _op


def _register_fastfood():
    global _fastfood_op

    @torch.library.custom_op(
        "keras_crosswise::fastfood_backward", mutates_args=(), device_types="cpu"
    )
    def backward_op(
        x: torch.Tensor,
        upstream: torch.Tensor,
        signs: torch.Tensor,
        permutation: torch.Tensor,
        gaussian: torch.Tensor,
        scale: torch.Tensor,
    ) -> list[torch.Tensor]:
        """The gradients `[x, signs, gaussian, scale, bias]` of
        `keras_crosswise::fastfood` against `upstream`."""
        return fastfood_backward_run(x, upstream, signs, permutation, gaussian, scale)

    @backward_op.register_fake
    def _(x, upstream, signs, permutation, gaussian, scale):
        return [
            torch.empty_like(x),
            torch.empty_like(signs, dtype=x.dtype),
            torch.empty_like(gaussian, dtype=x.dtype),
            torch.empty_like(scale, dtype=x.dtype),
            torch.empty_like(scale, dtype=x.dtype),
        ]

    @torch.library.custom_op(
        "keras_crosswise::fastfood", mutates_args=(), device_types="cpu"
    )
    def forward_op(
        x: torch.Tensor,
        signs: torch.Tensor,
        permutation: torch.Tensor,
        gaussian: torch.Tensor,
        scale: torch.Tensor,
        bias: torch.Tensor,
    ) -> torch.Tensor:
        """`scale * (H G Pi H B x)[..., :outputs] + bias`, block after block."""
        return fastfood_run(x, signs, permutation, gaussian, scale, bias)

    @forward_op.register_fake
    def _(x, signs, permutation, gaussian, scale, bias):
        return x.new_empty((*x.shape[:-1], scale.shape[-1]))

    def setup_context(ctx, inputs, output):
        # The inputs only: the backward recomputes the rest, row by row.
        x, signs, permutation, gaussian, scale, bias = inputs
        ctx.save_for_backward(x, signs, permutation, gaussian, scale)
        ctx.dtypes = [t.dtype for t in (x, signs, gaussian, scale, bias)]

    def backward(ctx, upstream):
        x, signs, permutation, gaussian, scale = ctx.saved_tensors
        grads = backward_op(x, upstream, signs, permutation, gaussian, scale)
        grads = [g.to(dtype) for g, dtype in zip(grads, ctx.dtypes, strict=True)]
        dx, dsigns, dgaussian, dscale, dbias = grads
        return dx, dsigns, None, dgaussian, dscale, dbias

    forward_op.register_autograd(backward, setup_context=setup_context)
    _fastfood_op = forward_op
