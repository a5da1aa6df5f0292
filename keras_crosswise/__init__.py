"""keras-crosswise: cheap dense layers for Keras 3 (c&z and McKernel/Fastfood)."""

from keras_crosswise import (
    adapters,
    compression,
    initializers,
    layers,
    ops,
    regularizers,
)
from keras_crosswise.compression import CompressionReport, compress, compress_layer
from keras_crosswise.layers import (
    CZDense,
    FastfoodDense,
    McKernel,
    RandomFourierFeatures,
)

__version__ = "0.4.0"

__all__ = [
    "CZDense",
    "CompressionReport",
    "FastfoodDense",
    "McKernel",
    "RandomFourierFeatures",
    "__version__",
    "adapters",
    "compress",
    "compress_layer",
    "compression",
    "initializers",
    "layers",
    "ops",
    "regularizers",
]
