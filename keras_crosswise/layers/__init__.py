"""Keras layers with structured (diagonal and Fastfood) weights."""

from keras_crosswise.layers.cz_dense import CZDense
from keras_crosswise.layers.fastfood_dense import FastfoodDense
from keras_crosswise.layers.mckernel import McKernel
from keras_crosswise.layers.random_fourier_features import RandomFourierFeatures

__all__ = ["CZDense", "FastfoodDense", "McKernel", "RandomFourierFeatures"]
