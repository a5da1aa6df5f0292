"""Layer surgery in place: a layer of a built model replaced by another (an
adapter around it, or the layer again), wherever it sits, without copying any
weight. The adapters use it, as Keras's `enable_lora` changes layers in place.

Where the layer is a sublayer attribute of a custom layer (keras-hub's
`TransformerEncoder` keeps its attention and feed-forward layers so), that
layer's own config would rebuild the old sublayer on load. In a model that
saves its graph (a Sequential or plain functional model), the custom layer
is then wrapped in `ReplacedSublayers`, which saves the new sublayers too;
a model class that rebuilds itself from its own arguments (a keras-hub
`Backbone`) keeps its layers as they are, and is saved with its adapters
alone (as keras-hub saves LoRA weights) or merged.
"""

import keras

from keras_crosswise._keras_internals import (
    child_layers,
    is_plain_functional,
    refresh_torch_parameters,
    swap_graph_operation,
    swap_tracked_sublayer,
)
from keras_crosswise._surgery.replaced_sublayers import ReplacedSublayers
from keras_crosswise._surgery.selection import child_attributes, find_layers, is_graph


def replace_in_place(model, old, new):
    """Put `new` where `old` is inside `model` (at any depth), in place."""
    chain = _ancestors(model, old)
    _put(chain, old, new, _saves_its_graph(model))
    refresh_torch_parameters(chain)
    for ancestor in chain:
        if isinstance(ancestor, keras.Model) and not _saves_its_graph(ancestor):
            _refuse_config_while_replaced(ancestor)


def _refuse_config_while_replaced(model):
    """Make `model.get_config()` (what `model.save` and keras-hub's
    `save_to_preset` store, also for a functional model around it) refuse,
    with the way out, while a keras-crosswise layer sits inside: `model`
    rebuilds its layers from its own arguments, so the file would hold the
    adapters' weights without the adapters, and would not load ("objects
    could not be loaded"). Once they are merged or unloaded it is the
    model's own `get_config` again."""
    if "get_config" in vars(model):
        return  # guarded already
    own = model.get_config

    def get_config():
        ours = find_layers(
            model, lambda layer: type(layer).__module__.startswith("keras_crosswise")
        )
        if ours:
            raise ValueError(
                f"'{model.name}' ({type(model).__name__}) rebuilds its layers from "
                f"its own arguments, so a saved file would lose the "
                f"{type(ours[0]).__name__} '{ours[0].name}' put inside it (and "
                "would not load). Save the adapters alone with "
                "`keras_crosswise.adapters.save_adapters` (and `load_adapters` "
                "onto the base model), or `keras_crosswise.adapters.merge` them "
                "into its weights first."
            )
        return own()

    model.get_config = get_config


def unwrap_unchanged(model):
    """Take off every `ReplacedSublayers` wrapper of `model` whose replaced
    sublayers are plain Keras layers again (as `replace_in_place` made them,
    once the adapters are gone), innermost first."""
    wrappers = find_layers(model, lambda layer: isinstance(layer, ReplacedSublayers))
    for wrapper in reversed(wrappers):
        held = [getattr(wrapper.layer, name) for name in wrapper.replaced]
        if not any(
            type(layer).__module__.startswith("keras_crosswise") for layer in held
        ):
            replace_in_place(model, wrapper, wrapper.layer)


def _ancestors(model, layer):
    """`[model, ..., parent]`: the layers from `model` down to the one that
    holds `layer` directly."""
    stack = [[model]]
    while stack:
        chain = stack.pop()
        for child in child_layers(chain[-1]):
            if child is layer:
                return chain
            stack.append([*chain, child])
    raise ValueError(f"'{layer.name}' is not a layer of '{model.name}'.")


def _put(chain, old, new, wrap):
    parent = chain[-1]
    if is_graph(parent) and any(layer is old for layer in parent.layers):
        swap_graph_operation(parent, old, new)
        return
    names = [name for name, child in child_attributes(parent).items() if child is old]
    if not names:
        raise ValueError(
            f"Cannot replace '{old.name}' inside '{parent.name}' "
            f"({type(parent).__name__}): it is neither a node of a Sequential or "
            "functional model nor an attribute of a layer (e.g. it sits in a list)."
        )
    grand = chain[-2] if len(chain) > 1 else None
    if isinstance(grand, ReplacedSublayers):
        grand.replace(names[0], new)
    elif wrap and grand is not None and not isinstance(parent, ReplacedSublayers):
        _put(chain[:-1], parent, ReplacedSublayers(parent, {names[0]: new}), wrap)
    else:
        swap_tracked_sublayer(parent, names[0], old, new)


def _saves_its_graph(model):
    """Whether `model.save` stores `model`'s graph of layers (a Sequential or
    plain functional model), rather than arguments from which its class
    rebuilds its layers."""
    return isinstance(model, keras.Sequential) or is_plain_functional(model)
