"""The only place the package reads Keras internals, each where Keras 3 has no
public API for it. `tests/test_keras_internals.py` pins what each relies on,
so a Keras release that changes one fails there first."""

import contextlib

import keras


def nested_layers(layer):
    """Every layer inside `layer`, at any depth, `layer` itself first: the
    layers of nested models and the sublayers that custom layers keep as
    attributes. `Model.layers` lists one level of a model only, and a plain
    `Layer` has no public list of its sublayers; Keras's own
    `_flatten_layers` walks both."""
    return list(layer._flatten_layers(include_self=True, recursive=True))


def call_count(layer):
    """How many times `layer` was called on symbolic inputs (in a functional
    or Sequential model): more than once means it is shared. Keras keeps the
    calls as the layer's inbound nodes and exposes no public count."""
    return len(getattr(layer, "_inbound_nodes", ()))


@contextlib.contextmanager
def uncompiled(model):
    """`model` reads as uncompiled inside the block. `keras.models.clone_model`
    compiles the copy of a compiled model, which builds an optimizer state of
    zeros that `save` then stores (Adam's nearly doubled a weights file), and
    has no argument to skip it."""
    compiled = getattr(model, "compiled", False)
    model.compiled = False
    try:
        yield model
    finally:
        model.compiled = compiled


def sublayer_attributes(layer):
    """The layers that `layer` holds as attributes, by attribute name. On
    PyTorch a Keras layer is also a `torch.nn.Module`, which keeps them in
    its `_modules` registry instead of the instance dict."""
    attributes = {**vars(layer), **getattr(layer, "_modules", {})}
    return {
        name: value
        for name, value in attributes.items()
        if isinstance(value, keras.layers.Layer)
    }


def swap_tracked_sublayer(parent, name, old, new):
    """Make `new` the sublayer `parent.<name>` in place of `old`, for a built
    `parent`. Keras locks a built layer's tracker against new sublayers and
    offers no public replacement; its tracker's own `replace_tracked_value`
    keeps the layer list (and so `weights`) in order. On PyTorch a layer is
    also a `torch.nn.Module`, whose registry holds the sublayer instead of
    the instance dict."""
    parent._tracker.replace_tracked_value("layers", old, new)
    modules = getattr(parent, "_modules", None)
    if modules is not None and name in modules:
        modules[name] = new
    else:
        object.__setattr__(parent, name, new)
