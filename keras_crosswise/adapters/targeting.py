"""Which layers `adapt` takes: the kind's default targets (keras-hub's where
the model holds a keras-hub backbone), the user's `layers`, `train` and
`feedforward`, through `_surgery`'s one eligibility policy."""

import keras

from keras_crosswise._surgery import find_layers, select_layers
from keras_crosswise._surgery.eligibility import adapters_in, choose, why_not_eligible
from keras_crosswise.adapters.diagonal_adapter import QUANTIZATION
from keras_crosswise.adapters.kinds import FEEDFORWARD_OUTPUTS

ADAPTABLE = (keras.layers.Dense, keras.layers.EinsumDense)


def _why_not_adaptable(model, layer, adapted, trained):
    if id(layer) in adapted:
        return "it is already adapted (`merge` or `unload` the model first)"
    if id(layer) in trained:
        return (
            "it is trained in full (`train` names it or a layer holding it); a "
            "layer is either adapted or trained"
        )
    return why_not_eligible(model, layer, ADAPTABLE, QUANTIZATION)


def choose_targets(model, behaviour, layers, trained):
    adapted = {id(adapter.layer) for adapter in adapters_in(model)}
    inside_trained = {id(layer) for layer in trained}
    for layer in trained:
        inside_trained |= {id(x) for x in find_layers(layer, lambda x: True)}
    spec = _default_targets(model, behaviour) if layers is None else layers
    return choose(
        model,
        spec,
        lambda layer: _why_not_adaptable(model, layer, adapted, inside_trained),
        ADAPTABLE,
        "adapt",
        layers,
        lambda: " (every one is adapted already)" if adapted else "",
    )


def _default_targets(model, behaviour):
    """The kind's targets where the model holds a keras-hub backbone (by
    default keras-hub's own, its `default_lora_layer_names`), else every
    Dense and EinsumDense."""
    backbones = [
        layer
        for layer in [model, *find_layers(model, lambda layer: True)]
        if callable(getattr(layer, "default_lora_layer_names", None))
    ]
    if not backbones:
        return lambda layer: True
    names = behaviour.target_names(
        [n for b in backbones for n in b.default_lora_layer_names()]
    )
    inside = {
        id(layer) for b in backbones for layer in find_layers(b, lambda layer: True)
    }
    return lambda layer: id(layer) in inside and layer.name in names


def feedforward_targets(model, behaviour, feedforward, chosen):
    """The ids of the chosen layers whose input the kind scales ((IA)³'s
    feed-forward layers)."""
    if not behaviour.takes_feedforward:
        if feedforward is not None:
            raise ValueError(
                f"`feedforward` goes with kind='ia3'; got kind={behaviour.name!r} "
                f"and feedforward={feedforward!r}."
            )
        return set()
    if feedforward is None:
        return {id(layer) for layer in chosen if layer.name in FEEDFORWARD_OUTPUTS}
    picked = select_layers(model, feedforward, lambda layer: None, "feedforward")
    chosen_ids = {id(layer) for layer in chosen}
    outside = [layer.name for layer in picked if id(layer) not in chosen_ids]
    if outside and isinstance(feedforward, (list, tuple)):  # named, not matched
        raise ValueError(
            f"`feedforward` names {outside}, which `layers` does not adapt; "
            "feedforward layers must be among the adapted ones."
        )
    return {id(layer) for layer in picked if id(layer) in chosen_ids}


def trained_layers(model, train):
    if train is None:
        return []
    return select_layers(model, train, lambda layer: None, "train")
