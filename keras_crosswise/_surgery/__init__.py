"""Layer surgery shared by `compress` and the adapters: which layers to take
(`selection`), a copy of a model with layers swapped (`copying`, for
`compress`), and a layer replaced in place (`in_place`, for the adapters).
Keras internals are read in `keras_crosswise._keras_internals` only."""

from keras_crosswise._surgery.copying import copy_layer, copy_with_swaps
from keras_crosswise._surgery.flags import trainable_flags
from keras_crosswise._surgery.in_place import replace_in_place, unwrap_unchanged
from keras_crosswise._surgery.selection import (
    check_model,
    find_layers,
    is_graph,
    layer_paths,
    select_layers,
    weight_owners,
    weight_paths,
    why_not_swappable,
)

__all__ = [
    "check_model",
    "copy_layer",
    "copy_with_swaps",
    "find_layers",
    "is_graph",
    "layer_paths",
    "replace_in_place",
    "select_layers",
    "trainable_flags",
    "unwrap_unchanged",
    "weight_owners",
    "weight_paths",
    "why_not_swappable",
]
