"""The fast Walsh-Hadamard transform (H in Eq. 14): `fwht`, on the native
kernel where it runs (`keras_crosswise.native`), else on the portable
`keras.ops` transform (`keras_crosswise._portable_hadamard`)."""

import functools

import keras
from keras import ops

from keras_crosswise import native
from keras_crosswise._portable_hadamard import (  # noqa: F401 (the ops API)
    MAX_FACTOR,
    METHODS,
    auto_method,
    check_method,
    device_kind,
    hadamard_matrix,
    is_power_of_two,
    kronecker_factors,
    next_power_of_two,
    resolve_method,
    transform,
    transform_factor,
)
from keras_crosswise._tensors import (
    as_tensors,
    static_size,
    symbolic_call,
    working_dtype,
    zero_pad_last_axis,
)
from keras_crosswise.ops.custom_gradients import custom_gradients_skipped


def pad_to_power_of_two(x):
    """Zero-pad the last axis of `x` to the next power of two."""
    (x,) = as_tensors(x)
    size = static_size(ops.shape(x)[-1])
    padding = next_power_of_two(size) - size
    if padding == 0:
        return x
    return zero_pad_last_axis(x, padding)  # padding < size: the next power of two


def _hadamard_with_self_adjoint_gradient(x, n, method, max_factor):
    if custom_gradients_skipped():
        return transform(x, n, method, max_factor)

    @ops.custom_gradient
    def transformed(x):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            # H is symmetric, so the gradient is the transform of the gradient.
            return transform(upstream, n, method, max_factor)

        return transform(x, n, method, max_factor), grad

    return transformed(x)


def fwht(x, normalize=False, method="auto", max_factor=None):
    """Fast Walsh-Hadamard transform over the last axis (Sylvester order).

    Computes `x @ H` for the symmetric n x n Hadamard matrix with entries +-1
    (`scipy.linalg.hadamard(n)`), in O(n log n) for large n. H @ H = n I, so
    with `normalize=True` the result is scaled by `1 / sqrt(n)` and the
    transform is orthonormal and its own inverse.

    The gradient is the same transform of the incoming gradient (H is
    self-adjoint), so no intermediate stage is stored for backpropagation.
    Float16/bfloat16 inputs are transformed in float32 and cast back; float64
    inputs are transformed in float64.

    Args:
        x: tensor of shape `(..., n)` with n a power of two (see
            `pad_to_power_of_two`). n must be known when tracing.
        normalize: whether to scale by `1 / sqrt(n)`.
        method: `"auto"`: the native C kernel on a CPU where it is built
            (`keras_crosswise.native`), except while a model is exported
            (on TensorFlow: eagerly and in the graphs of Keras's `fit`,
            `evaluate` and `predict`, not under XLA); elsewhere a short
            rule per backend and device (see `auto_method`: a dense matrix
            product for small n, Kronecker factors above). Or force
            `"native"` (an error where it cannot run; on TensorFlow it runs
            in any graph but XLA's), `"matmul"`, `"kronecker"` (H_n as a
            Kronecker product of small Hadamard matrices, one matmul each)
            or `"butterfly"` (log2(n) stages of sums and differences); these
            three are pure `keras.ops`, as every export is.
        max_factor: for Kronecker, the largest factor (a power of two);
            `None` takes the rule's factor size for n.

    Returns:
        A tensor of the shape and dtype of `x`.

    Example:

    >>> print(keras.ops.convert_to_numpy(fwht(keras.ops.array([1.0, 0.0, 1.0, 0.0]))))
    [2. 2. 0. 0.]
    """
    check_method(method, max_factor)  # before every path, the fastest too
    if method in ("auto", "native"):
        result = native.eager_transform(x, normalize)
        if result is not None:
            return result
    (x,) = as_tensors(x)
    shape = ops.shape(x)
    n = shape[-1] if len(shape) else None
    n = static_size(n)  # a traced size (torch.jit) becomes static
    if n is None or not is_power_of_two(n):
        raise ValueError(
            "The last axis of `x` must have a known power-of-two size; got shape "
            f"{tuple(shape)}. Pad it with `keras_crosswise.ops.pad_to_power_of_two`."
        )
    symbolic = symbolic_call(
        functools.partial(
            fwht, normalize=normalize, method=method, max_factor=max_factor
        ),
        lambda x: keras.KerasTensor(x.shape, dtype=x.dtype),
        x,
    )
    if symbolic is not None:
        return symbolic
    dtype = keras.backend.standardize_dtype(x.dtype)
    if not keras.backend.is_float_dtype(dtype):
        dtype = "float32"
    x = ops.cast(x, working_dtype(dtype))
    factor = transform_factor(n, normalize)
    if method in ("auto", "native"):
        native_transform = native.transform_for(x, asked=method == "native")
        # Faster than every keras.ops method at every n measured, 16 to 65536
        # (benchmarks/speed/fwht_methods.py, docs/benchmarks.md).
        if native_transform is not None:
            return ops.cast(native_transform(x, factor), dtype)
        if method == "native":
            raise ValueError(
                "`method='native'`: the native kernel cannot run here: "
                f"{native.reason() or 'the call is traced for export or by XLA'}."
            )
    if method == "auto" or max_factor is None:
        method, max_factor = resolve_method(n, method, max_factor, device_kind(x))
    result = _hadamard_with_self_adjoint_gradient(x, n, method, max_factor)
    if normalize:
        result = result * factor
    return ops.cast(result, dtype)
