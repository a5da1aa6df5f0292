"""`adapt`, `merge`, `save_adapters` and `load_adapters`."""

import json
import pathlib

import keras
import numpy as np

from keras_crosswise._surgery import (
    copy_layer,
    copy_with_swaps,
    find_layers,
    layers_named,
    why_not_swappable,
)
from keras_crosswise._validation import LAYER_SEED_STRIDE, check_seed
from keras_crosswise.adapters.diagonal_adapter import (
    KINDS,
    DiagonalAdapter,
    check_adaptable,
)

ADAPTABLE = (keras.layers.Dense, keras.layers.EinsumDense)


def adapt(model, kind="cz_bias", layers=None, seed=None):
    """A copy of a trained model with diagonal adapters on its dense layers.

    Each chosen Dense or EinsumDense becomes a `DiagonalAdapter` around a
    copy of it: only the adapter's weights learn there (and the bias, for
    `"cz_bias"`). Every other layer is copied with its weights and keeps
    its `trainable` flag, so freeze what should stay frozen (a backbone's
    other layers) on `model` or on the copy; a frozen layer freezes the
    adapters inside it, as Keras does for any sublayer. The layers may sit
    anywhere: in nested models and inside custom layers (keras-hub's
    `TransformerEncoder`). `model` is never changed, nor are its weight
    buffers when the copy trains.

    Args:
        model: a built Sequential or functional `keras.Model`.
        kind: `"cz"` (`y = act(c * (W x) + b)`), `"cz_bias"` (the same, b
            learns) or `"fastfood"` (`y = act(W x + s * F(d * x) + b)`); see
            `DiagonalAdapter`.
        layers: `None` (every Dense and EinsumDense not adapted yet), a list
            of layer names (each name selects every layer of that name), or
            a callable `layer -> bool` applied to the Dense and EinsumDense
            layers.
        seed: integer or `None`, the seed of the Fastfood transforms (layer
            i gets `seed + 8 i`).

    Returns:
        The adapted, uncompiled `keras.Model`.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((8,)),
    ...     keras.layers.Dense(16, activation="relu"),
    ...     keras.layers.Dense(3),
    ... ])
    >>> adapted = keras_crosswise.adapters.adapt(model, kind="cz")
    >>> sum(int(np.prod(w.shape)) for w in adapted.trainable_weights)  # 16 + 3
    19
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}; got {kind!r}.")
    _check_model(model)
    seed = check_seed(seed)
    chosen = _choose(model, layers)
    swaps = {
        id(layer): DiagonalAdapter(
            copy_layer(layer),
            kind=kind,
            seed=None if seed is None else seed + LAYER_SEED_STRIDE * i,
        )
        for i, layer in enumerate(chosen)
    }
    return copy_with_swaps(model, swaps)


def merge(model):
    """A copy of an adapted model with every adapter folded into a plain
    Dense or EinsumDense (the folded kernel, the bias as trained): the same
    outputs at no extra cost, and no keras_crosswise layer left from the
    adapters.

    Example:

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> merged = keras_crosswise.adapters.merge(
    ...     keras_crosswise.adapters.adapt(model, kind="cz")
    ... )
    >>> type(merged.layers[0]).__name__
    'Dense'
    """
    _check_model(model)
    adapters = _adapters(model)
    if not adapters:
        raise ValueError(
            f"`model` '{model.name}' has no adapters to merge (no DiagonalAdapter "
            "layer); `keras_crosswise.adapters.adapt` adds them."
        )
    return copy_with_swaps(model, {id(a): _merged(a) for a in adapters})


def save_adapters(model, path):
    """Save what fine-tuning changed in an adapted model to `path`, a `.npz`
    file: each adapter's weights, kind and seed, and every other weight that
    trains (a new head, say), by its path. Kilobytes, not the whole model;
    `load_adapters` puts them on the base model."""
    _check_model(model)
    adapters = _adapters(model)
    if not adapters:
        raise ValueError(f"`model` '{model.name}' has no adapters to save.")
    arrays, layers = {}, []
    for index, adapter in enumerate(adapters):
        layers.append(
            {"name": adapter.name, "kind": adapter.kind, "seed": adapter.seed}
        )
        for number, weight in enumerate(_adapter_weights(adapter)):
            arrays[f"{index}/{number}"] = keras.ops.convert_to_numpy(weight.value)
    inside = [w for adapter in adapters for w in adapter.weights]
    for weight in model.trainable_weights:
        if not any(weight is w for w in inside):
            arrays[f"other/{weight.path}"] = keras.ops.convert_to_numpy(weight.value)
    meta = json.dumps({"format": "keras_crosswise.adapters/1", "adapters": layers})
    np.savez(pathlib.Path(path), meta=np.array(meta), **arrays)


def load_adapters(model, path):
    """`model` (the base model the adapters were trained on, new head
    included) adapted with what `save_adapters` saved at `path`: the adapted
    model again, as trained."""
    with np.load(pathlib.Path(path), allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        arrays = {key: stored[key] for key in stored.files if key != "meta"}
    names = [entry["name"] for entry in meta["adapters"]]
    kinds = {entry["kind"] for entry in meta["adapters"]}
    if len(kinds) != 1:
        raise ValueError(f"{path} holds adapters of several kinds: {sorted(kinds)}.")
    adapted = adapt(model, kind=kinds.pop(), layers=lambda layer: layer.name in names)
    adapters = _adapters(adapted)
    if [a.name for a in adapters] != names:
        raise ValueError(
            f"{path} holds adapters for layers {names}; `model` '{model.name}' "
            f"adapts {[a.name for a in adapters]}: is it the same base model?"
        )
    for index, (adapter, entry) in enumerate(
        zip(adapters, meta["adapters"], strict=True)
    ):
        weights = _adapter_weights(adapter)
        for number, weight in enumerate(weights):
            value = arrays[f"{index}/{number}"]
            if tuple(value.shape) != tuple(weight.shape):
                raise ValueError(
                    f"{path}: adapter '{entry['name']}' weight `{weight.name}` has "
                    f"shape {value.shape}; `model` needs {tuple(weight.shape)}."
                )
            weight.assign(value)
    by_path = {weight.path: weight for weight in adapted.weights}
    for key, value in arrays.items():
        if key.startswith("other/"):
            weight = by_path.get(key[len("other/") :])
            if weight is None or tuple(weight.shape) != value.shape:
                raise ValueError(
                    f"{path} holds the trained weight `{key[6:]}` of shape "
                    f"{value.shape}, which `model` '{model.name}' does not have."
                )
            weight.assign(value)
    return adapted


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    if not model.built:
        raise ValueError(
            f"`model` '{model.name}' must be built: train it, call it on data, "
            "or start it with `keras.Input(shape)`."
        )


def _adapters(model):
    return find_layers(model, lambda layer: isinstance(layer, DiagonalAdapter))


def _inside_adapter(model):
    return {id(adapter.layer) for adapter in _adapters(model)}


def _choose(model, layers):
    adapted = _inside_adapter(model)
    candidates = find_layers(model, lambda layer: isinstance(layer, ADAPTABLE))
    if layers is None or callable(layers):
        chosen = [
            layer
            for layer in candidates
            if id(layer) not in adapted and (layers is None or layers(layer))
        ]
    elif isinstance(layers, (list, tuple)) and all(isinstance(n, str) for n in layers):
        chosen = []
        for name, layer in layers_named(model, layers):
            if id(layer) in adapted or isinstance(layer, DiagonalAdapter):
                raise ValueError(
                    f"`layers` names '{name}', which is already adapted; "
                    "`merge` the model first to adapt it again."
                )
            chosen.append(layer)
    else:
        raise TypeError(
            "`layers` must be None, a list of layer names or a callable "
            f"(layer -> bool); got {layers!r}."
        )
    for layer in chosen:
        check_adaptable(layer)
        reason = why_not_swappable(model, layer)
        if reason:
            raise ValueError(f"Cannot adapt '{layer.name}': {reason}.")
    if not chosen:
        already = " (every one is adapted already)" if adapted else ""
        raise ValueError(
            f"No Dense or EinsumDense layer of '{model.name}' to adapt with "
            f"layers={layers!r}{already}."
        )
    return chosen


def _adapter_weights(adapter):
    """What an adapter learns or draws: its own weights and, for "cz_bias",
    the wrapped layer's bias."""
    weights = [w for w in adapter.weights if not _belongs_to(w, adapter.layer)]
    if adapter.kind == "cz_bias" and adapter.layer.bias is not None:
        weights.append(adapter.layer.bias)
    return weights


def _belongs_to(weight, layer):
    return any(weight is own for own in layer.weights)


def _merged(adapter):
    """A plain copy of the adapter's layer with the adapter folded in."""
    merged = copy_layer(adapter.layer)
    merged.kernel.assign(np.asarray(adapter.merged_kernel(), dtype=merged.kernel.dtype))
    return merged
