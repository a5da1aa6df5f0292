"""The student: a copy of the teacher with its chosen Dense layers replaced."""

import contextlib

import keras

from keras_crosswise._keras_internals import nested_layers, uncompiled


def clone_with(model, replacements):
    """The model with `replacements[id(layer)]` for the chosen layers and
    copies of every other layer, trained weights included. The copy stays
    uncompiled (see `uncompiled`)."""
    copies = []

    def clone(layer):
        if id(layer) in replacements:
            return replacements[id(layer)]
        copy = layer.__class__.from_config(layer.get_config())
        copies.append((layer, copy))
        return copy

    with uncompiled(model):
        student = keras.models.clone_model(model, clone_function=clone, recursive=True)
    for layer, copy in copies:
        copy.set_weights(layer.get_weights())
    return student


@contextlib.contextmanager
def trainable_flags_restored(model):
    """Restore every layer's `trainable` flag afterwards (the teacher is
    frozen while the student learns from it, and `Distiller` freezes it)."""
    flags = [(layer, layer.trainable) for layer in nested_layers(model)]
    try:
        yield
    finally:
        for layer, flag in flags:  # outermost first: a model sets its layers
            layer.trainable = flag


def layer_inputs(model, chosen, sample, batch_size):
    """The teacher's inputs to each chosen layer on `sample`, as a list."""
    probe = keras.Model(model.inputs, [dense.input for dense in chosen])
    hidden = probe.predict(sample, batch_size, verbose=0)
    return hidden if len(chosen) > 1 else [hidden]
