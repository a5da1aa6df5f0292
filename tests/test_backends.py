"""`keras_crosswise._backends`: what differs between backends, one module
each over `common`'s defaults, and the guard that keeps the branches there."""

import ast
import pathlib

import keras
import numpy as np
import pytest

from keras_crosswise import _backends
from keras_crosswise._backends import common

BACKEND = keras.backend.backend()
PACKAGE = pathlib.Path(_backends.__file__).parents[1]
# Where a branch on the backend's name belongs: the backend modules, the
# native kernel's dispatch to its per-backend bindings, and the `fwht`
# method rule, a table keyed by a backend name it is given.
BRANCHES_ALLOWED = {"_backends", "native", "_portable_hadamard.py"}
INTERFACE = [name for name in vars(common) if not name.startswith("_")]
INTERFACE = [name for name in INTERFACE if name not in ("contextlib", "ops")]


def test_every_name_is_common_or_the_backends_own():
    module = {"jax", "tensorflow", "torch"}
    for name in INTERFACE:
        found = getattr(_backends, name)
        if BACKEND in module:
            own = __import__(f"keras_crosswise._backends.{BACKEND}", fromlist=["_"])
            expected = getattr(own, name, getattr(common, name))
        else:
            expected = getattr(common, name)
        assert found is expected, name


def test_no_branch_on_the_backend_name_outside_its_rooms():
    """A comparison with `keras.backend.backend()` (or a `backend` name
    read from it) outside the rooms above fails: a new difference between
    backends goes into a `_backends` module."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in BRANCHES_ALLOWED:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            text = ast.unparse(node)
            if "backend()" in text or text.startswith("backend "):
                offenders.append(f"{relative}:{node.lineno}: {text}")
    assert not offenders, offenders


def test_device_kind_and_exact_products(rng):
    assert _backends.device_kind() == "cpu"  # no GPU in the test command
    x = keras.ops.convert_to_tensor(rng.standard_normal((3, 4)).astype("float32"))
    matrix = keras.ops.convert_to_tensor(rng.standard_normal((4, 2)).astype("float32"))
    with _backends.exact_matmul():
        product = keras.ops.convert_to_numpy(_backends.matmul(x, matrix))
    expected = keras.ops.convert_to_numpy(x).astype(
        "float64"
    ) @ keras.ops.convert_to_numpy(matrix).astype("float64")
    assert np.abs(product - expected).max() < 1e-5


@pytest.mark.skipif(BACKEND not in ("torch", "jax"), reason="float64 products")
def test_float64_matmul_stays_float64(rng):
    """Keras's torch matmul computed two float64 tensors in float32 (1e-4 off
    at n = 1024); JAX computes float64 inside `float64_scope` alone."""
    a, b = rng.standard_normal((4, 1024)), rng.standard_normal((1024, 3))
    with _backends.float64_scope("float64"):
        found = _backends.matmul(
            keras.ops.convert_to_tensor(a, "float64"),
            keras.ops.convert_to_tensor(b, "float64"),
        )
        found = keras.ops.convert_to_numpy(found)
    assert found.dtype == np.float64
    assert np.abs(found - a @ b).max() < 1e-10


def test_densified_takes_the_backends_sparse_tensor(rng):
    dense = np.zeros((3, 5), "float32")
    dense[0, 1], dense[2, 4] = 1.5, -2.0
    if BACKEND == "tensorflow":
        import tensorflow as tf

        sparse = tf.sparse.from_dense(dense)
    elif BACKEND == "jax":
        from jax.experimental import sparse as jax_sparse

        sparse = jax_sparse.BCOO.fromdense(dense)
    elif BACKEND == "torch":
        import torch

        sparse = torch.tensor(dense).to_sparse()
    else:
        sparse = dense
    found = keras.ops.convert_to_numpy(_backends.densified(sparse))
    np.testing.assert_array_equal(found, dense)


def test_cached_makes_a_constant_once_where_the_backend_keeps_them(rng):
    like = keras.ops.zeros((1,))
    made = []

    def make():
        made.append(1)
        return keras.ops.convert_to_tensor(np.arange(3.0), "float32")

    key = ("test_backends", float(rng.standard_normal()))
    first, second = (_backends.cached(key, make, like) for _ in range(2))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(second), np.arange(3.0))
    assert len(made) == (1 if _backends.CACHES_CONSTANTS else 2)
    assert (first is second) == _backends.CACHES_CONSTANTS
