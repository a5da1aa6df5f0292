"""Diagonal fine-tuning adapters, put on a trained model in place.

`adapt(model, kind)` wraps chosen Dense and EinsumDense layers in a
`DiagonalAdapter` (learned vectors around the frozen layer, no weight copied)
and freezes the rest; `merge` folds the adapters into the layers, `unload`
takes them off, `disable` / `enable` / `disabled` switch them;
`save_adapters` / `load_adapters` keep the adapters alone in a small file.
Each kind is an `AdapterKind` registered with `register_kind`
(`adapters.kinds`).
"""

from keras_crosswise.adapters.adapting import (
    adapt,
    disable,
    disabled,
    enable,
    merge,
    unload,
)
from keras_crosswise.adapters.diagonal_adapter import KINDS, DiagonalAdapter
from keras_crosswise.adapters.files import load_adapters, save_adapters
from keras_crosswise.adapters.kinds import AdapterKind, register_kind, registered_kinds

__all__ = [
    "KINDS",
    "AdapterKind",
    "DiagonalAdapter",
    "adapt",
    "disable",
    "disabled",
    "enable",
    "load_adapters",
    "merge",
    "register_kind",
    "registered_kinds",
    "save_adapters",
    "unload",
]
