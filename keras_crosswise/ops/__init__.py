"""Backend-agnostic ops (pure `keras.ops`) for diagonal and structured layers."""

from keras_crosswise.ops.cz import cz, cz_expand
from keras_crosswise.ops.products import face_splitting, khatri_rao, kronecker

__all__ = ["cz", "cz_expand", "face_splitting", "khatri_rao", "kronecker"]
