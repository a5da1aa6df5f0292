"""Which layers of a model an operation takes (by name, path, pattern or
predicate), and the model checks: one place for `compress` and the adapters."""

import re

import keras

from keras_crosswise._keras_internals import (
    call_count,
    child_layers,
    graph_call_count,
    nested_layers,
    sublayer_attributes,
)
from keras_crosswise._surgery.replaced_sublayers import ReplacedSublayers


def check_model(model, graph=False, hint=""):
    """A clear error unless `model` is a built `keras.Model` (with `graph`, a
    Sequential or functional one with known inputs)."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    if graph and not is_graph(model):
        raise TypeError(
            f"`model` must be a Sequential or functional keras.Model; "
            f"'{model.name}' is a subclassed {type(model).__name__}, whose layers "
            f"cannot be rewired.{hint}"
        )
    if not model.built or (graph and not getattr(model, "inputs", None)):
        raise ValueError(
            f"`model` '{model.name}' must be built: train it, call it on data, "
            "or start it with `keras.Input(shape)`."
        )


def is_graph(layer):
    """Whether `layer` is a Sequential or functional model (a graph of
    operations, keras-hub backbones included)."""
    return isinstance(layer, keras.Sequential) or (
        isinstance(layer, keras.Model) and hasattr(type(layer), "operations")
    )


def find_layers(model, predicate):
    """The layers inside `model`, at any depth, for which `predicate(layer)`
    holds, outermost first, each once (`model` itself excluded)."""
    found, seen = [], set()
    for layer in nested_layers(model)[1:]:
        if id(layer) not in seen and predicate(layer):
            seen.add(id(layer))
            found.append(layer)
    return found


def layer_paths(model):
    """`id(layer) -> path` for every layer inside `model`: the names from the
    model down, joined by "/" (e.g. `"transformer_layer_0/self_attention_layer/
    query"`), the same as the prefix of Keras's weight paths for layers built
    in place. A `ReplacedSublayers` wrapper adds no step (the wrapped layer
    has the wrapper's path), so paths stay those of the base model. A layer
    reached twice keeps its first path."""
    paths, stack = {}, [(model, "")]
    while stack:
        layer, prefix = stack.pop()
        for child in reversed(child_layers(layer)):
            if id(child) not in paths:
                wrapped = isinstance(layer, ReplacedSublayers)
                paths[id(child)] = prefix[:-1] if wrapped else prefix + child.name
                stack.append((child, paths[id(child)] + "/"))
    return paths


def weight_owners(model):
    """`id(weight) -> (layer, weight)` for every weight inside `model`: the
    deepest layer holding it (a weight is also listed by every layer above)."""
    owners = {}
    for layer in find_layers(model, lambda layer: True):  # deepest owner last
        for weight in layer.weights:
            owners[id(weight)] = (layer, weight)
    return owners


def weight_paths(model):
    """`id(weight) -> path` for every weight of `model`: its layer's path (as
    `layer_paths`) and its name. Unlike Keras's own weight paths, these
    do not hold the model's name, so they match between two instances."""
    layers = layer_paths(model)
    return {
        key: f"{layers[id(layer)]}/{weight.name}"
        for key, (layer, weight) in weight_owners(model).items()
    }


def select_layers(model, layers, why_not, argument="layers"):
    """The layers of `model` that `layers` chooses, outermost first.

    `layers` is a callable `layer -> bool`, a regular expression (a `str`,
    matched in full against each layer's path, as peft's `target_modules`),
    or a list of names or paths (a name selects every layer of that name).
    `why_not(layer)` is `None` for a layer the operation can take, else the
    reason: a callable or a pattern passes over such layers; a list that
    names one is refused with the reason. A pattern that chooses nothing is
    refused: it matches no path (a typo), or only layers the operation
    cannot take (shared, quantized, ...), each reason given.
    """
    everything = find_layers(model, lambda layer: True)
    if callable(layers):
        return [layer for layer in everything if not why_not(layer) and layers(layer)]
    paths = layer_paths(model)
    if isinstance(layers, str):
        try:
            pattern = re.compile(layers)
        except re.error as error:
            raise ValueError(
                f"`{argument}` as a string is a regular expression over layer "
                f"paths; {layers!r} is not one ({error})."
            ) from None
        matched = [layer for layer in everything if pattern.fullmatch(paths[id(layer)])]
        chosen = [layer for layer in matched if not why_not(layer)]
        if not chosen:
            _refuse_pattern(model, layers, argument, matched, why_not, paths)
        return chosen
    if not isinstance(layers, (list, tuple)) or not all(
        isinstance(name, str) for name in layers
    ):
        raise TypeError(
            f"`{argument}` must be None, a list of layer names or paths, a "
            f"regular expression (str) or a callable (layer -> bool); got "
            f"{layers!r}."
        )
    chosen, seen = [], set()
    for name in layers:
        named = [
            layer for layer in everything if name in (layer.name, paths[id(layer)])
        ]
        if not named:
            raise ValueError(
                f"`{argument}` names '{name}', which is not a layer of "
                f"'{model.name}'; its layers are "
                f"{sorted({layer.name for layer in everything})}."
            )
        for layer in named:
            reason = why_not(layer)
            if reason:
                raise ValueError(f"`{argument}` names '{name}', but {reason}.")
            if id(layer) not in seen:
                seen.add(id(layer))
                chosen.append(layer)
    return chosen


def _refuse_pattern(model, pattern, argument, matched, why_not, paths):
    if not matched:
        some = [paths[id(layer)] for layer in find_layers(model, bool)][:4]
        raise ValueError(
            f"`{argument}`={pattern!r} matches no layer path of '{model.name}' (a "
            f"regular expression matched in full against paths such as {some})."
        )
    reasons = [f"'{paths[id(layer)]}': {why_not(layer)}" for layer in matched[:4]]
    more = f" (and {len(matched) - 4} more)" if len(matched) > 4 else ""
    raise ValueError(
        f"`{argument}`={pattern!r} matches {len(matched)} layer(s) of "
        f"'{model.name}', none of which it can take: {'; '.join(reasons)}{more}."
    )


# Wrappers that call their inner layers per time step or per direction, with
# shapes and state of their own: a layer inside one is not replaced.
LOOPING_WRAPPERS = (
    keras.layers.TimeDistributed,
    keras.layers.RNN,
    keras.layers.Bidirectional,
)


def why_not_swappable(model, layer):
    """`None` if `layer` can be replaced inside `model`, else the reason (a
    shared layer: called at more than one place of the model's graphs, or
    held by more than one parent, or inside such a layer; a layer inside a
    TimeDistributed, RNN or Bidirectional)."""
    parents = parents_of(model, layer)
    if len(parents) > 1:
        return "it is shared (a sublayer of more than one layer)"
    if _places(model, layer, parents) > 1:
        return "it is shared (called at more than one place)"
    while parents and parents[0] is not model:
        parent = parents[0]
        if isinstance(parent, LOOPING_WRAPPERS):
            return (
                f"it sits inside the {type(parent).__name__} '{parent.name}', "
                "which calls it per time step or direction (not supported)"
            )
        parents = parents_of(model, parent)
        if len(parents) > 1 or _places(model, parent, parents) > 1:
            return (
                f"it sits inside '{parent.name}', which is shared (called at "
                "more than one place)"
            )
    return None


def _places(model, layer, parents):
    """How many places call `layer`: its nodes in the graphs inside `model`
    (a Sequential model loaded from a file keeps stale nodes of its rebuilds,
    which do not count); for a sublayer that a custom layer calls, its calls
    per call of that layer."""
    places = graph_call_count(model, layer)
    if places is None:
        parent_calls = call_count(parents[0]) if parents else 0
        places = -(-call_count(layer) // max(1, parent_calls))
    return places


def parents_of(model, layer):
    """The layers inside `model` (or `model`) that hold `layer` directly."""
    return [
        parent
        for parent in nested_layers(model)
        if any(child is layer for child in child_layers(parent))
    ]


def child_attributes(layer):
    """A layer's direct sublayers held as attributes: name -> layer (none for
    a graph model, whose layers are nodes)."""
    if is_graph(layer):
        return {}
    return sublayer_attributes(layer)
