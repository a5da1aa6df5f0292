"""Which Dense layers of a model `compress` replaces."""

import keras

from keras_crosswise._surgery import find_layers, layers_named, why_not_swappable


def check_model(model):
    """A clear error unless `model` is a built Sequential or functional model."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    # Functional models (and Sequential ones) are graphs of operations.
    functional = isinstance(model, keras.Sequential) or hasattr(
        type(model), "operations"
    )
    if not functional:
        raise TypeError(
            f"`model` must be a Sequential or functional keras.Model; "
            f"'{model.name}' is a subclassed {type(model).__name__}, whose layers "
            "compress cannot rewire. Compress its Dense layers by hand with "
            "`keras_crosswise.compress_layer`."
        )
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(
            f"`model` '{model.name}' must be built with known inputs: train it, "
            "or start it with `keras.Input(shape)`."
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


def choose_layers(model, layers, min_params):
    """The Dense layers of `model` that `layers` (None, names or a callable)
    selects; a clear error for a named layer that cannot be replaced or for
    an empty choice."""
    everything = find_layers(model, lambda layer: True)
    if layers is None:
        outputs = {id(layer) for layer in _output_layers(model)}
        chosen = [
            layer
            for layer in everything
            if _why_not_replaceable(model, layer) is None
            and layer.kernel.shape[0] * layer.kernel.shape[1] >= min_params
            and id(layer) not in outputs
        ]
    elif callable(layers):
        chosen = [
            layer
            for layer in everything
            if _why_not_replaceable(model, layer) is None and layers(layer)
        ]
    elif isinstance(layers, (list, tuple)) and all(isinstance(n, str) for n in layers):
        chosen = []
        for name, layer in layers_named(model, layers):
            reason = _why_not_replaceable(model, layer)
            if reason:
                raise ValueError(f"`layers` names '{name}', but {reason}.")
            chosen.append(layer)
    else:
        raise TypeError(
            "`layers` must be None, a list of layer names or a callable "
            f"(layer -> bool); got {layers!r}."
        )
    if not chosen:
        sizes = [
            f"{layer.name}: {layer.count_params():,}"
            for layer in everything
            if isinstance(layer, keras.layers.Dense)
        ]
        raise ValueError(
            f"No Dense layer of '{model.name}' to compress with layers={layers!r} "
            f"and min_params={min_params} (Dense parameters: {sizes or 'none'})."
        )
    return chosen
