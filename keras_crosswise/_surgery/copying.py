"""A copy of a built model with chosen layers swapped, wherever they sit (in a
Sequential or functional model, in nested models, or as attributes of custom
layers such as keras-hub's `TransformerEncoder`).

`compress` builds its student with it. The given model is never changed:
every layer of the copy is a new object with copies of the trained weights.
"""

import keras

from keras_crosswise._keras_internals import nested_layers, uncompiled
from keras_crosswise._surgery.replaced_sublayers import ReplacedSublayers
from keras_crosswise._surgery.selection import child_attributes, is_graph


def copy_layer(layer):
    """A new, built layer like `layer` (a plain layer, not a model), with
    copies of its weights."""
    copy = layer.__class__.from_config(layer.get_config())
    copy.build_from_config(layer.get_build_config())
    copy.set_weights(layer.get_weights())
    return copy


def copy_with_swaps(model, swaps):
    """A copy of `model` with `swaps[id(layer)]` (a new layer) in place of each
    layer so keyed, at any depth; every other layer is copied with its
    weights. The copy is not compiled. A clear error if a layer to swap sits
    where the copy cannot reach it (e.g. in a list held by a custom layer)."""
    surgeon = _Surgeon(swaps)
    copy = surgeon.copy(model)
    for original, clone in surgeon.deferred:  # built when clone_model called it
        clone.set_weights(original.get_weights())
    missed = [
        layer.name
        for layer in nested_layers(model)
        if id(layer) in swaps and id(layer) not in surgeon.used
    ]
    if missed:
        raise ValueError(
            f"Cannot swap {missed} inside '{model.name}': they are not a node "
            "of a Sequential or functional model nor an attribute of a layer."
        )
    return copy


class _Surgeon:
    def __init__(self, swaps):
        self.swaps = swaps
        self.copies = {}  # id(original) -> its copy or swap, for shared nodes
        self.deferred = []
        self.used = set()

    def contains_change(self, layer):
        return any(id(inner) in self.swaps for inner in nested_layers(layer))

    def copy(self, layer):
        if id(layer) not in self.copies:
            if id(layer) in self.swaps:
                self.used.add(id(layer))
                self.copies[id(layer)] = self.swaps[id(layer)]
            else:
                self.copies[id(layer)] = self._copy_unchanged(layer)
        return self.copies[id(layer)]

    def _copy_unchanged(self, layer):
        if not isinstance(layer, keras.layers.Layer):
            # A keras.ops call in a functional graph (e.g. `x["token_ids"]`):
            # an operation without weights or sublayers.
            return layer.__class__.from_config(layer.get_config())
        if is_graph(layer):
            with uncompiled(layer):
                return keras.models.clone_model(layer, clone_function=self.copy)
        copy = layer.__class__.from_config(layer.get_config())
        if layer.built and not copy.built:
            copy.build_from_config(layer.get_build_config())
        if len(copy.weights) != len(layer.weights):
            if self.contains_change(layer):
                raise ValueError(
                    f"Cannot replace layers inside '{layer.name}' "
                    f"({type(layer).__name__}): it creates its sublayers' weights "
                    "on its first call, not in `build()`. Give it a `build()` that "
                    "builds its sublayers."
                )
            self.deferred.append((layer, copy))  # built when clone_model calls it
            return copy
        copy.set_weights(layer.get_weights())
        # A wrapper's copy already holds its replacements: look inside it.
        wrapped = isinstance(layer, ReplacedSublayers)
        changed = {
            name: self.copy(child)
            for name, child in child_attributes(
                layer.layer if wrapped else layer
            ).items()
            if self.contains_change(child)
        }
        if not changed:
            return copy
        if wrapped:
            for name, new in changed.items():
                copy.replace(name, new)
            return _unwrapped(copy)
        # Its config would rebuild the old sublayers on load: wrap it.
        return _unwrapped(ReplacedSublayers(copy, changed))


def _unwrapped(wrapper):
    """The wrapped layer alone when its config rebuilds every replacement as
    it is (same class and config: `merge` puts plain layers back), else
    `wrapper`."""
    inner = wrapper.layer
    fresh = inner.__class__.from_config(inner.get_config())
    fresh.build_from_config(inner.get_build_config())
    for attribute in wrapper.replaced:
        new, rebuilt = getattr(inner, attribute), getattr(fresh, attribute)
        if type(new) is not type(rebuilt) or _config(new) != _config(rebuilt):
            return wrapper
    fresh.set_weights(inner.get_weights())  # the same layers, in the same order
    return fresh


def _config(layer):
    return {key: value for key, value in layer.get_config().items() if key != "name"}
