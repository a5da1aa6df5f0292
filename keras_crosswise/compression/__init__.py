"""Compress a trained Keras model: its big Dense layers become CZDense or
FastfoodDense, initialised from the teacher, then distilled.

`compress(model, x, y)` does it for a whole model and attaches a
`CompressionReport`; `compress_layer(dense)` turns one trained Dense layer
into a structured one (each structured layer's `from_dense`).
"""

from keras_crosswise.compression.pipeline import compress
from keras_crosswise.compression.report import CompressionReport, LayerCompression
from keras_crosswise.compression.structures import compress_layer

__all__ = ["CompressionReport", "LayerCompression", "compress", "compress_layer"]
