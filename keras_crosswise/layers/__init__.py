"""Keras layers with structured (diagonal) weights."""

from keras_crosswise.layers.cz_dense import CZDense

__all__ = ["CZDense"]
