"""Diagonal fine-tuning adapters, put on a trained model in place.

`adapt(model, kind)` wraps chosen Dense and EinsumDense layers in a
`DiagonalAdapter` (learned vectors around the frozen layer, no weight copied)
and freezes the rest; `merge` folds the adapters into the layers, `unload`
takes them off, `disable` / `enable` / `disabled` switch them;
`save_adapters` / `load_adapters` keep the adapters alone in a small file.
"""

from keras_crosswise.adapters.adapting import (
    adapt,
    disable,
    disabled,
    enable,
    load_adapters,
    merge,
    save_adapters,
    unload,
)
from keras_crosswise.adapters.diagonal_adapter import KINDS, DiagonalAdapter

__all__ = [
    "KINDS",
    "DiagonalAdapter",
    "adapt",
    "disable",
    "disabled",
    "enable",
    "load_adapters",
    "merge",
    "save_adapters",
    "unload",
]
