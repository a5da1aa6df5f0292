"""Initializers for diagonal and Fastfood weights."""

from keras_crosswise.initializers.chi_scaling import ChiScaling
from keras_crosswise.initializers.diagonal_variance_scaling import (
    DiagonalVarianceScaling,
)
from keras_crosswise.initializers.identity_diagonal import IdentityDiagonal
from keras_crosswise.initializers.matern_scaling import MaternScaling
from keras_crosswise.initializers.normalized_gaussian import NormalizedGaussian
from keras_crosswise.initializers.rademacher_signs import RademacherSigns
from keras_crosswise.initializers.random_permutation import RandomPermutation

__all__ = [
    "ChiScaling",
    "DiagonalVarianceScaling",
    "IdentityDiagonal",
    "MaternScaling",
    "NormalizedGaussian",
    "RademacherSigns",
    "RandomPermutation",
]
