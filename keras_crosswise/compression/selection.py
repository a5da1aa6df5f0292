"""Which Dense layers of a model `compress` replaces."""

import keras

from keras_crosswise._surgery import check_model as check_graph_model
from keras_crosswise._surgery import (
    find_layers,
    select_layers,
    why_not_swappable,
)
from keras_crosswise.adapters.diagonal_adapter import DiagonalAdapter


def check_model(model):
    """A clear error unless `model` is a built Sequential or functional model."""
    check_graph_model(
        model,
        graph=True,
        hint=" Compress its Dense layers by hand with "
        "`keras_crosswise.compress_layer`.",
    )


def _why_not_replaceable(model, layer):
    """`None` if `compress` can replace `layer`, else the reason."""
    if isinstance(layer, keras.layers.EinsumDense):
        return (
            "it is an EinsumDense: compress replaces Dense layers only (an "
            "einsum kernel has no c&z or Fastfood structure here); "
            "keras_crosswise.adapters fine-tunes such layers"
        )
    if not isinstance(layer, keras.layers.Dense):
        return f"it is a {type(layer).__name__}, not a Dense layer"
    if getattr(layer, "quantization_mode", None) is not None:
        return f"it is quantized ({layer.quantization_mode!r})"
    if getattr(layer, "lora_enabled", False):
        return "it has LoRA enabled (merge it first)"
    return why_not_swappable(model, layer)


def _output_layers(model):
    """The layers whose outputs are the model's, also inside a nested model
    that gives the model's output (by the models' own configs)."""
    if isinstance(model, keras.Sequential):
        names = [model.layers[-1].name] if model.layers else []
    else:
        entries = model.get_config().get("output_layers", [])
        if entries and not isinstance(entries[0], (list, tuple)):
            entries = [entries]  # one output: [name, node, tensor]
        names = [entry[0] for entry in entries]
    found = []
    for name in names:
        layer = model.get_layer(name)
        found.append(layer)
        if isinstance(layer, keras.Model):
            found += _output_layers(layer)
    return found


def check_no_adapters(model):
    """A clear error for a model with adapters on: its copy would hold
    adapter wrappers whose inner layers are frozen Dense layers."""
    adapters = find_layers(model, lambda layer: isinstance(layer, DiagonalAdapter))
    if adapters:
        raise ValueError(
            f"`model` '{model.name}' holds {len(adapters)} adapter(s) (on "
            f"{[a.layer.name for a in adapters[:5]]}): merge them into their "
            "layers with `keras_crosswise.adapters.merge(model)` (or take them "
            "off with `unload`) before compressing."
        )


def choose_layers(model, layers, min_params):
    """The Dense layers of `model` that `layers` (None, names or paths, a
    regular expression or a callable) selects; a clear error for a named
    layer that cannot be replaced or for an empty choice."""
    choice = layers
    if layers is None:
        outputs = {id(layer) for layer in _output_layers(model)}

        def choice(layer):
            kernel = layer.kernel.shape
            return kernel[0] * kernel[1] >= min_params and id(layer) not in outputs

    chosen = select_layers(
        model, choice, lambda layer: _why_not_replaceable(model, layer)
    )
    if not chosen:
        sizes = [
            f"{layer.name}: {layer.count_params():,}"
            for layer in find_layers(model, lambda layer: True)
            if isinstance(layer, keras.layers.Dense)
        ]
        raise ValueError(
            f"No Dense layer of '{model.name}' to compress with layers={layers!r} "
            f"and min_params={min_params} (Dense parameters: {sizes or 'none'})."
        )
    return chosen
