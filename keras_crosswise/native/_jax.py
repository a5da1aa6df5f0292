"""The native kernel in JAX: a primitive lowered to an XLA FFI call on CPU.

The primitive is linear and its own transpose (H is symmetric), so `jit`,
`grad`, `jvp`, `vmap` and their compositions all work. Its lowering is the
FFI call when XLA compiles for this process, and the portable `keras.ops`
transform when JAX lowers for export (`jax.export`, jax2tf's native
serialization) or for another platform, so an exported program carries no
custom call that another runtime would lack.

The fused Fastfood product (`fastfood`) is two more primitives, its forward
and its backward, each one FFI call on CPU (the portable `jax.numpy`
product, and its `jax.vjp`, where lowered for export or another platform),
joined by a `custom_vjp`: `jit` and `grad` take the kernel both ways.
"""

import functools

import jax
import jax.ffi
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from keras_crosswise._backend_internals import jax_apply_primitive
from keras_crosswise._portable_hadamard import portable_transform

TARGET = "keras_crosswise_fwht"
FASTFOOD_TARGET = "keras_crosswise_fastfood"
FASTFOOD_BACKWARD_TARGET = "keras_crosswise_fastfood_backward"

fwht_p = Primitive("keras_crosswise_fwht")
fwht_p.def_impl(functools.partial(jax_apply_primitive(), fwht_p))
fwht_p.def_abstract_eval(lambda x, *, factor: jax.core.ShapedArray(x.shape, x.dtype))


def fwht(x, factor):
    """`factor * x @ H_n` over the last axis of a float32/float64 array."""
    return fwht_p.bind(x, factor=float(factor))


def _portable(x, *, factor):
    return portable_transform(x, factor)


_portable_lowering = mlir.lower_fun(_portable, multiple_results=False)


def _cpu_lowering(ctx, x, *, factor):
    if ctx.module_context.lowering_parameters.for_export:
        return _portable_lowering(ctx, x, factor=factor)
    return jax.ffi.ffi_lowering(TARGET)(ctx, x, factor=np.float64(factor))


mlir.register_lowering(fwht_p, _portable_lowering)
mlir.register_lowering(fwht_p, _cpu_lowering, platform="cpu")
# Linear, and H is symmetric: the transpose is the same transform.
ad.deflinear2(fwht_p, lambda cotangent, x, *, factor: [fwht(cotangent, factor)])


def _batch(arguments, dimensions, *, factor):
    # Rows are independent: the vmapped axis becomes one more leading axis.
    (x,), (axis,) = arguments, dimensions
    return fwht(jax.numpy.moveaxis(x, axis, 0), factor), 0


batching.primitive_batchers[fwht_p] = _batch


def portable_fastfood(x, signs, permutation, gaussian, scale, bias):
    """`scale * (H G Pi H B x)[..., :outputs] + bias` in `jax.numpy`: x
    `(..., d)` zero-padded to n, the `(blocks, n)` tables, `scale` and `bias`
    `(outputs,)`."""
    n = signs.shape[1]
    rows = x.reshape(-1, x.shape[-1])
    rows = jnp.pad(rows, ((0, 0), (0, n - rows.shape[-1])))
    rows = portable_transform(rows[:, None, :] * signs, 1.0)
    rows = jnp.take_along_axis(rows, permutation[None].astype("int32"), axis=-1)
    rows = portable_transform(rows * gaussian, 1.0).reshape(rows.shape[0], -1)
    out = rows[:, : scale.shape[0]] * scale + bias
    return out.reshape(*x.shape[:-1], scale.shape[0])


def portable_fastfood_backward(x, upstream, signs, permutation, gaussian, scale):
    """The gradients `(x, signs, gaussian, scale, bias)` of
    `portable_fastfood` against `upstream`."""

    def product(x, signs, gaussian, scale, bias):
        return portable_fastfood(x, signs, permutation, gaussian, scale, bias)

    bias = jnp.zeros_like(scale)
    _, pullback = jax.vjp(product, x, signs, gaussian, scale, bias)
    return pullback(upstream)


def _fastfood_shape(x, signs, permutation, gaussian, scale, bias):
    return jax.core.ShapedArray((*x.shape[:-1], scale.shape[0]), x.dtype)


def _fastfood_backward_shapes(x, upstream, signs, permutation, gaussian, scale):
    return [
        jax.core.ShapedArray(t.shape, x.dtype)
        for t in (x, signs, gaussian, scale, scale)
    ]


def _primitive(name, implementation, shape, target, multiple_results):
    """A primitive of `implementation` (its portable lowering), whose CPU
    lowering is the FFI `target` unless lowered for export; under `vmap` it
    runs `implementation`, vmapped."""
    primitive = Primitive(name)
    primitive.multiple_results = multiple_results
    primitive.def_impl(functools.partial(jax_apply_primitive(), primitive))
    primitive.def_abstract_eval(shape)
    portable = mlir.lower_fun(implementation, multiple_results=multiple_results)

    def cpu_lowering(ctx, *arguments):
        if ctx.module_context.lowering_parameters.for_export:
            return portable(ctx, *arguments)
        return jax.ffi.ffi_lowering(target)(ctx, *arguments)

    mlir.register_lowering(primitive, portable)
    mlir.register_lowering(primitive, cpu_lowering, platform="cpu")

    def batch(arguments, dimensions):
        axes = [d if isinstance(d, int) else None for d in dimensions]
        out = jax.vmap(implementation, in_axes=axes)(*arguments)
        return out, [0] * len(out) if multiple_results else 0

    batching.primitive_batchers[primitive] = batch
    return primitive


fastfood_p = _primitive(
    "keras_crosswise_fastfood",
    portable_fastfood,
    _fastfood_shape,
    FASTFOOD_TARGET,
    multiple_results=False,
)
fastfood_backward_p = _primitive(
    "keras_crosswise_fastfood_backward",
    portable_fastfood_backward,
    _fastfood_backward_shapes,
    FASTFOOD_BACKWARD_TARGET,
    multiple_results=True,
)


def fastfood(x, signs, permutation, gaussian, scale, bias):
    """`scale * (H G Pi H B x)[..., :outputs] + bias`, one kernel call each
    way (`portable_fastfood`'s arguments, one float dtype)."""
    permutation = jnp.asarray(permutation)
    if permutation.dtype != jnp.int32:
        permutation = permutation.astype(jnp.int32)
    return _fastfood(x, signs, permutation, gaussian, scale, bias)


@jax.custom_vjp
def _fastfood(x, signs, permutation, gaussian, scale, bias):
    return fastfood_p.bind(x, signs, permutation, gaussian, scale, bias)


def _fastfood_forward(x, signs, permutation, gaussian, scale, bias):
    # The inputs only: the backward recomputes the rest, row by row.
    out = _fastfood(x, signs, permutation, gaussian, scale, bias)
    return out, (x, signs, permutation, gaussian, scale)


def _fastfood_backward(saved, upstream):
    x, signs, permutation, gaussian, scale = saved
    dx, dsigns, dgaussian, dscale, dbias = fastfood_backward_p.bind(
        x, upstream, signs, permutation, gaussian, scale
    )
    return dx, dsigns, None, dgaussian, dscale, dbias


_fastfood.defvjp(_fastfood_forward, _fastfood_backward)


def register(library):
    """Register the library's XLA FFI handlers with JAX (CPU)."""
    for target, handler in (
        (TARGET, library.CrosswiseFwht),
        (FASTFOOD_TARGET, library.CrosswiseFastfood),
        (FASTFOOD_BACKWARD_TARGET, library.CrosswiseFastfoodBackward),
    ):
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(handler), platform="cpu")
