"""Backend-agnostic ops (pure `keras.ops`) for diagonal and structured layers."""

from keras_crosswise.ops.cz import cz, cz_expand
from keras_crosswise.ops.fastfood import fastfood
from keras_crosswise.ops.hadamard import (
    fwht,
    hadamard_matrix,
    next_power_of_two,
    pad_to_power_of_two,
)
from keras_crosswise.ops.products import face_splitting, khatri_rao, kronecker

__all__ = [
    "cz",
    "cz_expand",
    "face_splitting",
    "fastfood",
    "fwht",
    "hadamard_matrix",
    "khatri_rao",
    "kronecker",
    "next_power_of_two",
    "pad_to_power_of_two",
]
