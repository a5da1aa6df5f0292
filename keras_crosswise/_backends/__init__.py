"""What differs between Keras's backends, in one module per backend (as
Keras's own `backend/{jax,tensorflow,torch}`): `common` holds what most
backends do, and `jax`, `tensorflow` and `torch` define only where theirs
differs. The names below are the backend Keras runs, fixed when Keras is
imported; callers write `_backends.device_kind(x)`, never a branch on the
backend's name.

- `device_kind(x=None)`: `"gpu"` or `"cpu"`, where `x` (or the backend's
  default device) lives.
- `exact_matmul()`: a context in which float32 products are exact float32.
- `matmul(x, matrix)`: `ops.matmul`, in float64 for float64 tensors.
- `densified(x)`: a sparse tensor of the backend as a dense one.
- `quiet_trace()`: a context that silences an exporter's warnings about
  constants it must record.
- `cached(key, make, like)`: `make()`, a constant, kept per key where the
  backend's compiler must find it made (`CACHES_CONSTANTS`).
- `float64_scope(dtype)`: a context in which `dtype` float64 computes in
  float64.
- `custom_gradients_skipped()`: whether hand-written gradients are left out
  now (see `ops.custom_gradients`).
- `permute_rows(table, index)`: `take(table, index, axis=0)` for a
  permutation, its gradient a gather by the inverse.
- `gathers_columns()`, `fastfood_columns(...)`: the backend's own Fastfood
  product (PyTorch: the permutation gathered in place), or `False`/`None`.
- `scale_shift(x, scale, shift)`: `x * scale + shift` whose backward keeps
  its output, where that is the backend's (eager PyTorch), else `None`;
  `keeps_output(x, scale)` says whether it serves now.
"""

import importlib

import keras

from keras_crosswise._backends import common

_OWN = {"jax", "tensorflow", "torch"}
_backend = keras.backend.backend()
_module = (
    importlib.import_module(f"keras_crosswise._backends.{_backend}")
    if _backend in _OWN
    else common
)


def _pick(name):
    return getattr(_module, name, getattr(common, name))


device_kind = _pick("device_kind")
exact_matmul = _pick("exact_matmul")
matmul = _pick("matmul")
densified = _pick("densified")
quiet_trace = _pick("quiet_trace")
cached = _pick("cached")
CACHES_CONSTANTS = _pick("CACHES_CONSTANTS")
float64_scope = _pick("float64_scope")
custom_gradients_skipped = _pick("custom_gradients_skipped")
permute_rows = _pick("permute_rows")
gathers_columns = _pick("gathers_columns")
fastfood_columns = _pick("fastfood_columns")
scale_shift = _pick("scale_shift")
keeps_output = _pick("keeps_output")
