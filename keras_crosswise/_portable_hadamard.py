"""The portable fast Walsh-Hadamard transform: H as dense or Kronecker-factored
matrix products, or butterflies, in pure `keras.ops`, and the rule that picks
one per size, backend and device.

The ground floor of the transform: `keras_crosswise.native` lowers its JAX
primitive to `portable_transform` for export, and `keras_crosswise.ops.fwht`
runs it wherever the native kernel does not.
"""

import functools
import numbers

import keras
import numpy as np
from keras import ops

from keras_crosswise import _backends
from keras_crosswise._backends import device_kind
from keras_crosswise._tensors import cached_constant, static_size
from keras_crosswise._validation import MAX_WEIGHT_ELEMENTS, check_positive_int

MAX_FACTOR = 128
METHODS = ("auto", "native", "matmul", "kronecker", "butterfly")


def is_power_of_two(n):
    return n >= 1 and n & (n - 1) == 0


def next_power_of_two(n):
    """The smallest power of two >= n, for a positive integer n."""
    return 1 << (check_positive_int("n", n) - 1).bit_length()


def check_matrix_size(n, what):
    """Refuse forming an n x n H over MAX_WEIGHT_ELEMENTS (n > 2**14)."""
    if n * n > MAX_WEIGHT_ELEMENTS:
        raise ValueError(
            f"{what} forms the {n} x {n} Hadamard matrix ({n * n * 4 / 2**30:.0f} "
            f"GiB of float32), over the limit of {MAX_WEIGHT_ELEMENTS} elements "
            "(n <= 16384). `fwht(x)` with method 'auto', 'kronecker' or "
            "'butterfly' computes H x without forming H."
        )


@functools.lru_cache(maxsize=32)
def hadamard_matrix(n):
    """The n x n Sylvester Hadamard matrix (entries +-1) as a NumPy array."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"`n` must be a power of two; got {n!r}.")
    if not is_power_of_two(n):
        raise ValueError(f"`n` must be a power of two; got {n}.")
    check_matrix_size(n, f"hadamard_matrix({n})")
    matrix = np.ones((1, 1), dtype="float32")
    while matrix.shape[0] < n:
        matrix = np.block([[matrix, matrix], [matrix, -matrix]])
    matrix.setflags(write=False)
    return matrix


def kronecker_factors(n, max_factor=MAX_FACTOR):
    """Split n = 2^k into near-equal power-of-two factors of at most max_factor."""
    bits = n.bit_length() - 1
    max_bits = max_factor.bit_length() - 1
    count = max(1, -(-bits // max_bits))
    sizes = [bits // count + (i < bits % count) for i in range(count)]
    return [1 << size for size in sizes if size > 0] or [1]


def _hadamard_constant(n, like):
    """H_n as a tensor of `like`'s dtype (made once per size on PyTorch)."""
    return cached_constant(
        ("hadamard", n), lambda: hadamard_matrix(n), like.dtype, like
    )


def transform(x, n, method, max_factor=MAX_FACTOR):
    with _backends.exact_matmul():  # H is exact, so its products must be too
        return _transform_rows(x, n, method, max_factor)


def _transform_rows(x, n, method, max_factor):
    """x @ H over the last axis of the float32 tensor `x` of shape (..., n).

    The leading axes are kept as they are (never merged), so that exporters
    with a symbolic batch size (jax2onnx, torch.onnx) can follow every reshape.
    """
    if method == "matmul" or (method == "kronecker" and n <= max_factor):
        # One Kronecker factor is the matrix itself: the same product.
        return _backends.matmul(x, _hadamard_constant(n, x))
    leading = tuple(ops.shape(x)[:-1])
    if method == "butterfly":
        half = 1
        while half < n:
            # log2(n) stages of (a + b, a - b) on pairs `half` apart.
            pairs = ops.reshape(x, (*leading, n // (2 * half), 2, half))
            first, second = pairs[..., 0, :], pairs[..., 1, :]
            x = ops.stack([first + second, first - second], axis=-2)
            x = ops.reshape(x, (*leading, n))
            half *= 2
        return x
    # H_n = H_f1 (x) H_f2 (x) ... : apply each factor to its axis of the
    # reshaped row, rotating the factor to the back so all return in order:
    # (..., f, r) -> (..., r, f) @ H_f (symmetric). A matmul, not an einsum
    # over `...`, which jax2onnx exported with the batch size fixed.
    for factor in kronecker_factors(n, max_factor):
        blocks = ops.reshape(x, (*leading, factor, n // factor))
        factor_matrix = _hadamard_constant(factor, x)
        blocks = _backends.matmul(ops.swapaxes(blocks, -1, -2), factor_matrix)
        x = ops.reshape(blocks, (*leading, n))
    return x


def auto_method(n, backend, device):
    """What `method="auto"` runs for size `n`: `(method, max_factor)`.

    A dense product with H up to n = 128 on a CPU and n = 512 on a GPU;
    above, H_n as a Kronecker product of near-equal factors of at most 64
    (PyTorch, CPU), 128 (PyTorch, GPU), or 32 up to n = 1024 and 16 beyond
    (TensorFlow and JAX). `benchmarks/speed/fwht_methods.py` reports how far this
    rule is from the fastest measured method at each size (docs/benchmarks.md).
    """
    if n <= (512 if device == "gpu" else 128):
        return "matmul", None
    if backend == "torch":
        return "kronecker", 128 if device == "gpu" else 64
    return "kronecker", 32 if n <= 1024 else 16


def check_method(method, max_factor):
    """Clear errors for a bad `method` or `max_factor` of `fwht`."""
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}; got {method!r}.")
    if max_factor is not None and (
        isinstance(max_factor, bool)
        or not isinstance(max_factor, int)
        or max_factor < 2
        or not is_power_of_two(max_factor)
    ):
        raise ValueError(
            f"`max_factor` must be None or a power of two >= 2; got {max_factor!r}."
        )


def resolve_method(n, method="auto", max_factor=None, device=None):
    """The `(method, max_factor)` that `fwht(..., method, max_factor)` runs
    for size `n` on this backend and `device` (`"cpu"`, `"gpu"`, or `None`
    for this backend's default): `"auto"` follows `auto_method`; a Kronecker
    `max_factor` of `None` takes the rule's factor size where it picks
    Kronecker for `n`, else `MAX_FACTOR`.

    This is the `keras.ops` path: `fwht(method="auto")` runs the native
    kernel instead where it applies (`keras_crosswise.native`).
    """
    check_method(method, max_factor)
    if method == "matmul":
        check_matrix_size(n, "fwht(method='matmul')")
    if method in ("native", "matmul", "butterfly"):
        return method, None
    if method == "kronecker" and max_factor is not None:
        return method, max_factor
    backend = keras.backend.backend()
    chosen, chosen_factor = auto_method(n, backend, device or device_kind())
    if method == "auto":
        return chosen, chosen_factor
    return method, chosen_factor if chosen == "kronecker" else MAX_FACTOR


def portable_transform(x, factor):
    """`factor * x @ H_n` by the `keras.ops` rule for a CPU: what the native
    kernel computes, for the JAX primitive's export lowering."""
    n = static_size(x.shape[-1])
    method, max_factor = resolve_method(n, device="cpu")
    result = transform(x, n, method, max_factor)
    return result if factor == 1.0 else result * factor


def transform_factor(n, normalize):
    """The factor of `fwht(normalize=...)` for size n."""
    return float(1.0 / np.sqrt(n)) if normalize else 1.0
