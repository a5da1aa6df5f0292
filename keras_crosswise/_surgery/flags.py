"""Every `trainable` flag of a model, kept to be put back: `compress` freezes
its teacher for a while, and a refused `load_adapters` must leave the model
as it found it."""

from keras_crosswise._keras_internals import nested_layers


def trainable_flags(model):
    """A function that puts back the `trainable` flag of every layer of
    `model` (outermost first: a layer sets its sublayers' and variables') and
    then of every variable (a per-variable flag, as `adapt` or keras-hub's
    `enable_lora` set, is not a layer's), as they are now."""
    layers = [(layer, layer.trainable) for layer in nested_layers(model)]
    variables = [(weight, weight.trainable) for weight in model.weights]

    def restore():
        for layer, flag in layers:
            layer.trainable = flag
        for weight, flag in variables:
            weight.trainable = flag

    return restore
