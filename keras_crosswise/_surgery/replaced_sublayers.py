"""ReplacedSublayers: a layer of a model with some of its sublayers replaced."""

import keras

from keras_crosswise._keras_internals import swap_tracked_sublayer


@keras.saving.register_keras_serializable(package="keras_crosswise")
class ReplacedSublayers(keras.layers.Layer):
    """A built layer whose sublayer attributes `replacements` hold new layers.

    `compress` and the adapters replace Dense layers that custom layers keep
    as attributes (keras-hub's `TransformerEncoder` keeps its feed-forward
    block as `_feedforward_intermediate_dense` and `_feedforward_output_dense`).
    Such a layer rebuilds its original sublayers from its own config, so the
    model would not reload with the new ones. This wrapper saves the wrapped
    layer's config with the new sublayers' configs, and reloads by rebuilding
    the wrapped layer and putting the new sublayers back in place; weights
    load by the same attribute paths. It calls the wrapped layer unchanged.

    Args:
        layer: the built layer (or its serialized config, on load).
        replacements: dict, sublayer attribute name -> the new built layer
            (or its serialized config, on load).
        **kwargs: base layer keyword arguments; `name` defaults to the
            wrapped layer's.

    Example:

    >>> class Residual(keras.layers.Layer):  # keeps a sublayer as an attribute
    ...     def __init__(self, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.inner = keras.layers.Dense(4)
    ...     def build(self, input_shape):
    ...         self.inner.build(input_shape)
    ...     def call(self, x):
    ...         return x + self.inner(x)
    >>> residual = Residual()
    >>> residual.build((None, 4))
    >>> new = CZDense.from_dense(residual.inner)
    >>> wrapped = ReplacedSublayers(residual, {"inner": new})
    >>> type(wrapped.layer.inner).__name__
    'CZDense'
    """

    def __init__(self, layer, replacements, **kwargs):
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        kwargs.setdefault("name", layer.name)
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(**kwargs)
        if not isinstance(replacements, dict) or not replacements:
            raise ValueError(
                "`replacements` must be a non-empty dict of sublayer names to "
                f"layers; got {replacements!r}."
            )
        self.layer = layer
        self.replaced = ()  # names only: `layer` tracks the new layers
        for attribute, new in replacements.items():
            self.replace(attribute, new)
        self.built = layer.built

    def replace(self, attribute, new):
        """Put `new` (a layer or its serialized config) in place of the
        wrapped layer's sublayer `attribute`."""
        if isinstance(new, dict):
            new = keras.saving.deserialize_keras_object(new)
        old = getattr(self.layer, attribute, None)
        if not isinstance(old, keras.layers.Layer):
            raise ValueError(
                f"`replacements` names `{attribute}`, which is not a sublayer "
                f"attribute of '{self.layer.name}' ({type(self.layer).__name__})."
            )
        swap_tracked_sublayer(self.layer, attribute, old, new)
        if attribute not in self.replaced:
            self.replaced = (*self.replaced, attribute)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)

    def call(self, *args, **kwargs):
        return self.layer(*args, **kwargs)

    def compute_output_spec(self, *args, **kwargs):
        return self.layer.compute_output_spec(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layer": keras.saving.serialize_keras_object(self.layer),
                "replacements": {
                    attribute: keras.saving.serialize_keras_object(
                        getattr(self.layer, attribute)
                    )
                    for attribute in self.replaced
                },
            }
        )
        return config
