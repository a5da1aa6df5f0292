"""The Fastfood product H G Pi H B of McKernel (Eq. 14), block by block."""

import functools

import keras
import numpy as np
from keras import ops

from keras_crosswise import _backends, native
from keras_crosswise._tensors import (
    as_tensors,
    cached_constant,
    static_size,
    symbolic_call,
)
from keras_crosswise.ops.custom_gradients import custom_gradients_skipped
from keras_crosswise.ops.hadamard import fwht


def fastfood(x, signs, permutation, gaussian, method="auto", max_factor=None):
    """Apply `H G Pi H B` (Eq. 14 without C and 1 / (sigma sqrt(n))) per block.

    Each of the `blocks` rows of `signs`, `permutation` and `gaussian` defines
    one independent n x n block; the results are concatenated block by block.
    H is the unnormalised Walsh-Hadamard matrix (`fwht`), B = diag(signs),
    `(Pi v)[i] = v[permutation[i]]` and G = diag(gaussian).

    Args:
        x: float tensor of shape `(..., n)`, n a power of two (zero-pad first).
        signs: `(blocks, n)`, the diagonal of B.
        permutation: `(blocks, n)` integer tensor, each row a permutation of
            `0 .. n - 1` (checked when given as a NumPy array or list; a
            backend tensor is not read back to check it).
        gaussian: `(blocks, n)`, the diagonal of G.
        method: the `fwht` method of both transforms (see `fwht`).
        max_factor: the `fwht` Kronecker factor size (see `fwht`).

    Returns:
        A tensor of shape `(..., blocks * n)` in the dtype of `x`.

    Example:

    >>> x = np.random.default_rng(0).standard_normal((3, 8)).astype("float32")
    >>> signs = np.ones((1, 8), "float32")
    >>> permutation = np.arange(8, dtype="int32")[None]
    >>> gaussian = np.ones((1, 8), "float32")  # then the product is H H = 8 I
    >>> out = keras.ops.convert_to_numpy(fastfood(x, signs, permutation, gaussian))
    >>> print(np.allclose(out, 8 * x, atol=1e-5))
    True

    References:
        Le, Sarlós and Smola, "Fastfood: approximating kernel expansions in
        loglinear time", ICML 2013.
    """
    dtype = getattr(permutation, "dtype", None)
    dtype = keras.backend.standardize_dtype(
        np.asarray(permutation).dtype if dtype is None else dtype
    )
    if "int" not in dtype:
        raise ValueError(f"`permutation` must be an integer tensor; got dtype {dtype}.")
    if isinstance(permutation, (np.ndarray, list, tuple)):  # concrete: checked
        check_permutation_rows("`permutation`", permutation)
    x, signs, permutation, gaussian = as_tensors(x, signs, permutation, gaussian)
    blocks, n = _check_shapes(x, signs, permutation, gaussian)
    signs, gaussian = _in_dtype_of(x, signs, gaussian)
    symbolic = symbolic_call(
        functools.partial(fastfood, method=method, max_factor=max_factor),
        lambda x, *_: keras.KerasTensor((*x.shape[:-1], blocks * n), dtype=x.dtype),
        x,
        signs,
        permutation,
        gaussian,
    )
    if symbolic is not None:
        return symbolic
    if method in ("auto", "native"):
        fused = fused_fastfood(x, signs, permutation, gaussian)
        if fused is not None:
            return fused
    if _backends.gathers_columns():
        # The same steps in torch calls: each Keras op costs tens of
        # microseconds of dispatch in eager PyTorch, a third of a
        # FastfoodDense(1024) forward.
        return _backends.fastfood_columns(
            x,
            signs,
            permutation,
            gaussian,
            functools.partial(fwht, method=method, max_factor=max_factor),
            _fused_step(method, x, signs, gaussian),
        )
    leading = ops.shape(x)[:-1]
    # Kept 2-D, (batch, blocks * n): broadcasting a (batch, 1, n) tensor
    # against (blocks, n) diagonals made XLA's backward pass 2x slower.
    rows = ops.reshape(x, (-1, n))
    if blocks > 1:
        rows = ops.tile(rows, [1, blocks])
    rows = _fwht_per_block(rows * ops.reshape(signs, (-1,)), n, method, max_factor)
    # Row b of the permutation indexes into block b of the flattened rows.
    # Gathering rows of the transpose is an embedding lookup on every backend,
    # which all ONNX exporters support (a gather along axis 1 is not).
    offsets = cached_constant(
        ("offsets", blocks, n),
        lambda: np.arange(blocks)[:, None] * n,
        "int32",
        like=rows,
    )
    index = ops.reshape(ops.cast(permutation, "int32") + offsets, (-1,))
    rows = ops.transpose(_permute_rows(ops.transpose(rows), index))
    rows = _fwht_per_block(rows * ops.reshape(gaussian, (-1,)), n, method, max_factor)
    return ops.reshape(rows, (*leading, blocks * n))


def fused_fastfood(x, signs, permutation, gaussian, scale=None, bias=None):
    """`scale * (H G Pi H B x)[..., :outputs] + bias` (`None`: S = 1 over
    all `blocks * n` outputs, a zero bias) by the native kernel, one call
    forward and one backward (`native.fastfood_for`), for `x` of `d <= n`
    features (zero-padded);
    `None` where the kernel does not serve `x` (a symbolic input,
    TensorFlow, a GPU, an export, the kernel off). The tables' shapes are
    the caller's to check (`ops.fastfood`, the Fastfood layers' build)."""
    if isinstance(x, keras.KerasTensor):
        return None
    fused = native.fastfood_for(x)
    if fused is None:
        return None
    if scale is None:
        blocks, n = (static_size(size) for size in signs.shape)
        scale = _filled(1.0, blocks * n, x)
    if bias is None:
        bias = _filled(0.0, static_size(scale.shape[0]), x)
    signs, permutation, gaussian, scale, bias = as_tensors(
        signs, permutation, gaussian, scale, bias
    )
    signs, gaussian, scale, bias = _in_dtype_of(x, signs, gaussian, scale, bias)
    return fused(x, signs, permutation, gaussian, scale, bias)


def _in_dtype_of(x, *tensors):
    """`tensors` in x's dtype: float16 weights of a pure float16 policy
    against float32 rows (TensorFlow multiplies no mixed dtypes). Cast only
    where they differ: a cast is tens of microseconds of eager PyTorch."""
    return [t if t.dtype == x.dtype else ops.cast(t, x.dtype) for t in tensors]


def _filled(value, size, like):
    """A `(size,)` constant of `value` in like's dtype, made once per size."""
    make = functools.partial(np.full, size, value)
    return cached_constant(("filled", value, size), make, like.dtype, like)


def _check_shapes(x, signs, permutation, gaussian):
    """`(blocks, n)`, the one static shape of the three tables, checked
    against each other and `x`'s last axis (every backend, before any
    kernel reads them: a table of fewer rows must not be read past its end,
    nor a mismatch broadcast into numbers)."""
    shapes = {
        name: tuple(static_size(size) for size in table.shape)
        for name, table in (
            ("signs", signs),
            ("permutation", permutation),
            ("gaussian", gaussian),
        )
    }
    if len(shapes["signs"]) != 2 or len(set(shapes.values())) != 1:
        got = ", ".join(f"{name}={shape}" for name, shape in shapes.items())
        raise ValueError(
            "`signs`, `permutation` and `gaussian` must have one shape "
            f"(blocks, n); got {got}."
        )
    blocks, n = shapes["signs"]
    width = static_size(x.shape[-1]) if len(x.shape) else None
    if width is not None and width != n:
        raise ValueError(
            f"`x` must have n = {n} features on its last axis (the tables' "
            f"width); got shape {tuple(x.shape)}."
        )
    return blocks, n


def _fwht_per_block(rows, n, method, max_factor):
    """`fwht` of each length-n block of the `(batch, blocks * n)` matrix."""
    width = static_size(rows.shape[-1])
    transformed = fwht(ops.reshape(rows, (-1, n)), method=method, max_factor=max_factor)
    return ops.reshape(transformed, (-1, width))


def _permute_rows(table, index):
    """`take(table, index, axis=0)` for a permutation `index`. Its gradient
    gathers by the inverse permutation (`_backends.permute_rows`): a take's
    own gradient is a scatter-add, which cost a FastfoodDense training step
    up to 2x on CPU."""
    if custom_gradients_skipped():
        return ops.take(table, index, axis=0)
    return _backends.permute_rows(table, index)


def _fused_step(method, *tensors):
    """The native kernel's permutation, diagonal and transform in one pass
    (`native._torch.fastfood_step`), where `fwht` would run the kernel
    anyway: eager PyTorch on a CPU, no gradient."""
    if method not in ("auto", "native") or tensors[0].device.type != "cpu":
        return None
    loaded = native.torch_binding()
    return None if loaded is None else loaded.fastfood_step(*tensors)


def check_permutation_rows(what, rows, hint=""):
    """A clear error unless each row of `rows` is a permutation of `0..n-1`:
    otherwise a gather goes out of range (an opaque backend error, or NaN on
    JAX) or silently computes a wrong product. `what` names the rows in the
    message, `hint` ends it."""
    rows = np.asarray(rows)
    if not np.issubdtype(rows.dtype, np.integer):
        raise ValueError(
            f"{what} must hold integers; got dtype {rows.dtype}. {hint}".rstrip()
        )
    expected = np.arange(rows.shape[-1])
    rows = rows.reshape(-1, rows.shape[-1])
    bad = [
        i for i, row in enumerate(rows) if not np.array_equal(np.sort(row), expected)
    ]
    if bad:
        raise ValueError(
            f"{what} must hold in each row a permutation of 0..{rows.shape[-1] - 1}; "
            f"rows {bad[:5]} are not (row {bad[0]} starts "
            f"{rows[bad[0], :8].tolist()}). {hint}".rstrip()
        )
