"""Diagonal fine-tuning: learned c&z diagonals on a trained model's frozen layers.

`adapt(model, kind)` returns a copy of a trained model whose Dense and
EinsumDense layers carry a `DiagonalAdapter` (only the adapters' weights
learn in them); `merge(model)` folds the adapters back into plain Keras
layers; `save_adapters` / `load_adapters` keep the adapters alone in a small
file and put them on the base model later.
"""

from keras_crosswise.adapters.adapting import (
    adapt,
    load_adapters,
    merge,
    save_adapters,
)
from keras_crosswise.adapters.diagonal_adapter import KINDS, DiagonalAdapter

__all__ = [
    "KINDS",
    "DiagonalAdapter",
    "adapt",
    "load_adapters",
    "merge",
    "save_adapters",
]
