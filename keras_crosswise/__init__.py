"""keras-crosswise: cheap dense layers for Keras 3 (c&z and McKernel/Fastfood)."""

from keras_crosswise import initializers, layers, ops, regularizers
from keras_crosswise.compress import compress, compress_layer
from keras_crosswise.layers import (
    CZDense,
    FastfoodDense,
    McKernel,
    RandomFourierFeatures,
)

__version__ = "0.2.0"

__all__ = [
    "CZDense",
    "FastfoodDense",
    "McKernel",
    "RandomFourierFeatures",
    "__version__",
    "compress",
    "compress_layer",
    "initializers",
    "layers",
    "ops",
    "regularizers",
]
