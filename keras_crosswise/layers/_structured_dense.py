"""The Keras surface shared by the dense replacements (CZDense, FastfoodDense)."""

import keras
import numpy as np
from keras import ops

from keras_crosswise._tensors import densified
from keras_crosswise._validation import (
    MAX_WEIGHT_ELEMENTS,
    check_feature_axis,
    check_positive_int,
    layer_state_problem,
)


class StructuredDense(keras.layers.Layer):
    """`activation(W_hat x + bias)` for a structured W_hat given by a subclass.

    As `keras.layers.Dense`, on the last axis of inputs of any rank >= 2.
    A subclass creates its weights in `build_kernel(input_dim)`, computes
    `W_hat x` (no bias, no activation) in `linear(inputs)`, and joins
    `compress` by a `from_dense(dense)` class method, built on
    `_replace_dense`.
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        bias_initializer="zeros",
        bias_regularizer=None,
        activity_regularizer=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = check_positive_int("units", units, self.max_units)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    max_units = MAX_WEIGHT_ELEMENTS

    def build_kernel(self, input_dim):
        raise NotImplementedError

    def linear(self, inputs):
        raise NotImplementedError

    def affine(self, inputs):
        """`W_hat x + bias` in the compute dtype (a subclass may fuse them)."""
        outputs = ops.cast(self.linear(inputs), self.compute_dtype)
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs

    def build(self, input_shape):
        self.input_dim = check_feature_axis(type(self).__name__, input_shape)
        self.build_kernel(self.input_dim)  # W_hat's weights first: saved order
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: self.input_dim})

    def call(self, inputs):
        inputs = densified(inputs)  # sparse inputs: the transforms need all
        if not keras.backend.is_float_dtype(inputs.dtype):
            # Integers and bools, as Dense takes them (TensorFlow adds no bool).
            inputs = ops.cast(inputs, self.compute_dtype)
        outputs = self.affine(inputs)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        check_feature_axis(type(self).__name__, input_shape)
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

    @classmethod
    def _like_dense(cls, dense, **kwargs):
        """A new, built `cls` with `dense`'s name, units, activation, bias use,
        dtype policy and input width, its own initialisation. `kwargs` go to
        the constructor."""
        check_trained_dense(dense)
        layer = cls(
            dense.units,
            activation=dense.activation,
            use_bias=dense.use_bias,
            name=dense.name,
            dtype=dense.dtype_policy,
            **kwargs,
        )
        layer.build((None, dense.kernel.shape[0]))
        return layer

    @classmethod
    def _replace_dense(cls, dense, project, **kwargs):
        """`_like_dense`, with its structured weights `project(kernel, layer)`
        (a dict of NumPy arrays by attribute name) from `dense`'s float64
        kernel `(input_dim, units)`, and `dense`'s bias."""
        layer = cls._like_dense(dense, **kwargs)
        kernel = np.asarray(ops.convert_to_numpy(dense.kernel), "float64")
        weights = project(kernel, layer)
        if dense.use_bias:
            weights["bias"] = ops.convert_to_numpy(dense.bias)
        for name, value in weights.items():
            variable = getattr(layer, name)
            variable.assign(np.asarray(value, dtype=variable.dtype))
        return layer

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                # Older Keras (3.2) leaves it out of the base layer config.
                "activity_regularizer": keras.regularizers.serialize(
                    self.activity_regularizer
                ),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config


def check_trained_dense(dense, argument="dense"):
    """A clear error unless `dense` is a built, float `keras.layers.Dense`."""
    if not isinstance(dense, keras.layers.Dense):
        raise TypeError(
            f"`{argument}` must be a keras.layers.Dense; got {type(dense).__name__}."
        )
    # LoRA is no obstacle here: a Dense's `kernel` includes its LoRA update.
    problem = layer_state_problem(dense, lora=True)
    if problem is not None:
        raise ValueError(f"`{argument}` '{dense.name}' {problem}.")
