"""The native kernel in JAX: a primitive lowered to an XLA FFI call on CPU.

The primitive is linear and its own transpose (H is symmetric), so `jit`,
`grad`, `jvp`, `vmap` and their compositions all work. Its lowering is the
FFI call when XLA compiles for this process, and the portable `keras.ops`
transform when JAX lowers for export (`jax.export`, jax2tf's native
serialization) or for another platform, so an exported program carries no
custom call that another runtime would lack.
"""

import functools

import jax
import jax.ffi
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from keras_crosswise._backend_internals import jax_apply_primitive
from keras_crosswise._portable_hadamard import portable_transform

TARGET = "keras_crosswise_fwht"

fwht_p = Primitive("keras_crosswise_fwht")
fwht_p.def_impl(functools.partial(jax_apply_primitive(), fwht_p))
fwht_p.def_abstract_eval(lambda x, *, scale: jax.core.ShapedArray(x.shape, x.dtype))


def fwht(x, scale):
    """`scale * x @ H_n` over the last axis of a float32/float64 array."""
    return fwht_p.bind(x, scale=float(scale))


def _portable(x, *, scale):
    return portable_transform(x, scale)


_portable_lowering = mlir.lower_fun(_portable, multiple_results=False)


def _cpu_lowering(ctx, x, *, scale):
    if ctx.module_context.lowering_parameters.for_export:
        return _portable_lowering(ctx, x, scale=scale)
    return jax.ffi.ffi_lowering(TARGET)(ctx, x, scale=np.float64(scale))


mlir.register_lowering(fwht_p, _portable_lowering)
mlir.register_lowering(fwht_p, _cpu_lowering, platform="cpu")
# Linear, and H is symmetric: the transpose is the same transform.
ad.deflinear2(fwht_p, lambda cotangent, x, *, scale: [fwht(cotangent, scale)])


def _batch(arguments, dimensions, *, scale):
    # Rows are independent: the vmapped axis becomes one more leading axis.
    (x,), (axis,) = arguments, dimensions
    return fwht(jax.numpy.moveaxis(x, axis, 0), scale), 0


batching.primitive_batchers[fwht_p] = _batch


def register(library):
    """Register the library's XLA FFI handler with JAX (CPU)."""
    jax.ffi.register_ffi_target(
        TARGET, jax.ffi.pycapsule(library.CrosswiseFwht), platform="cpu"
    )
