"""The Keras surface shared by the dense replacements (CZDense, FastfoodDense)."""

import keras
from keras import ops

from keras_crosswise._validation import MAX_WEIGHT_ELEMENTS, check_positive_int
from keras_crosswise.layers._components import components_config, weight_components
from keras_crosswise.layers._feature_layer import FeatureAxisLayer


class StructuredDense(FeatureAxisLayer):
    """`activation(W_hat x + bias)` for a structured W_hat given by a subclass.

    Subclasses create their weights in `build_structure(input_dim)`, compute
    `W_hat x` (no bias, no activation) in `linear(inputs)`, and list their
    initializer, regularizer and constraint arguments in `COMPONENTS`, set
    with `set_components` in `__init__`; `bias_*` are among them.
    """

    COMPONENTS = ()

    def __init__(
        self, units, activation=None, use_bias=True, activity_regularizer=None, **kwargs
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = check_positive_int("units", units, MAX_WEIGHT_ELEMENTS)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)

    def build_structure(self, input_dim):
        raise NotImplementedError

    def linear(self, inputs):
        raise NotImplementedError

    def build_features(self, input_dim):
        self.build_structure(input_dim)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), **weight_components(self, "bias")
            )

    def call(self, inputs):
        outputs = ops.cast(self.linear(inputs), self.compute_dtype)
        if self.bias is not None:
            outputs = outputs + self.bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def to_dense_kernel(self):
        """The equivalent dense kernel K of shape `(input_dim, units)`, with
        `layer(x) == activation(x @ K + bias)`: W_hat transposed. Use it to
        inspect the layer or to hand its weights to a plain `Dense` layer."""
        if not self.built:
            raise ValueError(
                f"{self.__class__.__name__} '{self.name}' must be built before "
                "calling `to_dense_kernel()`."
            )
        return self.linear(ops.eye(self.input_dim))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                # Older Keras (3.2) leaves it out of the base layer config.
                "activity_regularizer": keras.regularizers.serialize(
                    self.activity_regularizer
                ),
                **components_config(self, self.COMPONENTS),
            }
        )
        return config
