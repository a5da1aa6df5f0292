"""Initializers for diagonal weights."""

from keras_crosswise.initializers.diagonal_variance_scaling import (
    DiagonalVarianceScaling,
)
from keras_crosswise.initializers.identity_diagonal import IdentityDiagonal

__all__ = ["DiagonalVarianceScaling", "IdentityDiagonal"]
