"""JAX's differences (see the package's docstring)."""

import contextlib
import functools

import jax
import jax.numpy as jnp


@functools.cache
def _default_device_kind():
    return "gpu" if jax.default_backend() in ("gpu", "cuda", "rocm") else "cpu"


def device_kind(x=None):
    return _default_device_kind()


def exact_matmul():
    # JAX multiplies float32 in TF32 on recent GPUs by default (10-bit
    # mantissas: errors of 1e-3); H is exact, so its products must be too.
    return jax.default_matmul_precision("float32")


def densified(x):
    from jax.experimental import sparse

    return x.todense() if isinstance(x, sparse.JAXSparse) else x


def float64_scope(dtype):
    # JAX computes in float64 only with x64 enabled: for this call alone.
    if dtype != "float64":
        return contextlib.nullcontext()
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # jax < 0.7

    return enable_x64(True)


def custom_gradients_skipped():
    return False  # its exporters trace the custom gradients


@jax.custom_vjp
def permute_rows(table, index):
    # A custom_vjp, not Keras's custom_gradient: jax2tf (SavedModel export
    # with gradients) rejects a custom gradient that closes over a traced
    # `index`; a custom_vjp takes it as an input.
    return jnp.take(table, index, axis=0)


def _permute_forward(table, index):
    return permute_rows(table, index), index


def _permute_backward(index, upstream):
    return jnp.take(upstream, jnp.argsort(index), axis=0), None


permute_rows.defvjp(_permute_forward, _permute_backward)
