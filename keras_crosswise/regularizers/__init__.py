"""Regularizers for diagonal weights."""

from keras_crosswise.regularizers.identity_l2 import IdentityL2

__all__ = ["IdentityL2"]
