"""The Keras surface of every layer of the package: one feature axis, last."""

import keras

from keras_crosswise._validation import check_feature_axis


class FeatureAxisLayer(keras.layers.Layer):
    """A layer on the last axis of inputs of shape `(..., features)`.

    Accepts any rank >= 2, passes masks through, checks in `build` that the
    feature axis is defined (a clear error otherwise), stores it as
    `input_dim` and pins it in `input_spec`. Subclasses create their weights
    in `build_features(input_dim)`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build_features(self, input_dim):
        raise NotImplementedError

    def build(self, input_shape):
        self.input_dim = check_feature_axis(type(self).__name__, input_shape)
        self.build_features(self.input_dim)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: self.input_dim})
