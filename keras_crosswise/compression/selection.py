"""Which Dense layers of a model `compress` replaces."""

import keras

from keras_crosswise._surgery import check_model, find_layers
from keras_crosswise._surgery.eligibility import choose, why_not_eligible


def check_teacher(model):
    """A clear error unless `model` is a built Sequential or functional model."""
    check_model(
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
    return why_not_eligible(model, layer, (keras.layers.Dense,))


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
    """The Dense layers of `model` that `layers` (None, names or paths, a
    regular expression or a callable) selects; a clear error for a named
    layer that cannot be replaced or for an empty choice."""
    choice = layers
    if layers is None:
        outputs = {id(layer) for layer in _output_layers(model)}

        def choice(layer):
            kernel = layer.kernel.shape
            return kernel[0] * kernel[1] >= min_params and id(layer) not in outputs

    def sizes():  # for the error alone
        found = [
            f"{layer.name}: {layer.count_params():,}"
            for layer in find_layers(model, lambda layer: True)
            if isinstance(layer, keras.layers.Dense)
        ]
        return f" and min_params={min_params} (Dense parameters: {found or 'none'})"

    return choose(
        model,
        choice,
        lambda layer: _why_not_replaceable(model, layer),
        (keras.layers.Dense,),
        "compress",
        layers,
        sizes,
    )
