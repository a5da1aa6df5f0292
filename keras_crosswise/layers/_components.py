"""Resolve and serialize a layer's initializers, regularizers and constraints."""

import keras

_GETTERS = {
    "initializer": keras.initializers.get,
    "regularizer": keras.regularizers.get,
    "constraint": keras.constraints.get,
}
_SERIALIZERS = {
    "initializer": keras.initializers.serialize,
    "regularizer": keras.regularizers.serialize,
    "constraint": keras.constraints.serialize,
}


def _kind(name):
    return name.rsplit("_", 1)[1]


def set_components(layer, **components):
    """Set `layer.<weight>_<kind>` from identifiers (`kernel_initializer="ones"`)."""
    for name, identifier in components.items():
        setattr(layer, name, _GETTERS[_kind(name)](identifier))


def components_config(layer, names):
    """The serialized `layer.<name>` for each name, for `get_config`."""
    return {name: _SERIALIZERS[_kind(name)](getattr(layer, name)) for name in names}


def weight_components(layer, weight):
    """`add_weight` arguments for the initializer, regularizer and constraint of
    `weight` (e.g. `"kernel"`)."""
    return {kind: getattr(layer, f"{weight}_{kind}") for kind in _GETTERS}
