"""`adapt`, `merge`, `unload`, `disable` / `enable`, `save_adapters` and
`load_adapters`: diagonal adapters put on a model in place, as Keras's
`enable_lora` and peft's `get_peft_model` do."""

import contextlib
import json
import pathlib
import zipfile

import keras
import numpy as np

from keras_crosswise._files import write_atomically
from keras_crosswise._surgery import (
    check_model,
    find_layers,
    layer_paths,
    replace_in_place,
    select_layers,
    trainable_flags,
    unwrap_unchanged,
    weight_paths,
)
from keras_crosswise._surgery.eligibility import adapters_in, choose, why_not_eligible
from keras_crosswise._validation import LAYER_SEED_STRIDE, check_seed
from keras_crosswise.adapters.diagonal_adapter import (
    KINDS,
    QUANTIZATION,
    DiagonalAdapter,
    check_adaptable,
)
from keras_crosswise.ops.fastfood import check_permutation_rows

ADAPTABLE = (keras.layers.Dense, keras.layers.EinsumDense)
# keras-hub's names: what `Backbone.enable_lora` targets, and (IA)³'s places
# (keys, values, the feed-forward network's second layer).
ATTENTION_KEYS_VALUES = ("key", "key_dense", "value", "value_dense")
FEEDFORWARD_OUTPUTS = ("feedforward_output_dense", "ffw_linear")
FORMAT, VERSION = "keras_crosswise.adapters", 2


def adapt(model, kind="cz_bias", layers=None, train=None, seed=None, feedforward=None):
    """Put diagonal adapters on a trained model's Dense and EinsumDense
    layers, in place, and freeze everything else.

    Each chosen layer is wrapped, where it sits, in a `DiagonalAdapter` that
    holds the layer itself: no weight is copied, so memory grows by the
    adapters only. Afterwards only the adapters train, plus the layers named
    in `train` (a new head, say: peft's `modules_to_save`); every other layer
    is frozen (`trainable = False`, so BatchNormalization keeps its
    statistics too). The layers may sit anywhere: in nested models, inside
    custom layers (keras-hub's `TransformerEncoder`), in subclassed models.
    Compile the model after `adapt` (it marks it uncompiled, as its trainable
    weights changed). `unload` takes the adapters off again, `merge` folds
    them into the layers.

    Args:
        model: a built `keras.Model` (Sequential, functional, a keras-hub
            backbone or task, or subclassed).
        kind: `"cz"`, `"cz_bias"`, `"ia3"` or `"fastfood"`; see
            `DiagonalAdapter`.
        layers: which layers to adapt (peft's `target_modules`): `None` for
            the default, a list of layer names or paths (e.g.
            `"transformer_layer_0/self_attention_layer/query"`), a regular
            expression matched in full against layer paths, or a callable
            `layer -> bool` over the Dense and EinsumDense layers. The default
            on a model holding a keras-hub backbone is what its
            `enable_lora` targets (the query and value projections) or, for
            `"ia3"`, the keys, values and feed-forward output layers; on other
            models, every Dense and EinsumDense layer not adapted yet.
        train: the layers to train in full besides the adapters (names,
            paths, a regular expression or a callable over every layer;
            peft's `modules_to_save`); `None` for none. A layer in `train`,
            or inside one, is not adapted: the default targets pass over it,
            and naming it in `layers` too is refused. `save_adapters` stores
            all of its variables (a BatchNormalization's moving statistics
            too).
        seed: integer or `None`, the seed of the Fastfood transforms (the
            i-th adapter gets `seed + 8 i`).
        feedforward: for `"ia3"`, which of the chosen layers get their input
            scaled instead of their output (peft's `feedforward_modules`),
            given as `layers` is; `None`: keras-hub's feed-forward output
            layers.

    Returns:
        `model`, adapted.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((8,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="head"),
    ... ])
    >>> model = keras_crosswise.adapters.adapt(
    ...     model, kind="cz", layers=["hidden"], train=["head"]
    ... )
    >>> sum(int(np.prod(w.shape)) for w in model.trainable_weights)  # 16 + 51
    67
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}; got {kind!r}.")
    check_model(model)
    seed = check_seed(seed)
    trained = _trained(model, train)
    chosen = _choose(model, kind, layers, trained)
    inputs_scaled = _feedforward(model, kind, feedforward, chosen)
    for i, layer in enumerate(chosen):
        adapter = DiagonalAdapter(
            layer,
            kind=kind,
            seed=None if seed is None else seed + LAYER_SEED_STRIDE * i,
            feedforward=id(layer) in inputs_scaled,
        )
        replace_in_place(model, layer, adapter)
    _freeze_all_but(model, trained, [])
    _forget_compiled_functions(model, uncompile=True)
    return model


def unload(model):
    """Take every adapter off `model`, in place, without merging: each
    adapted layer is back where it was, with its own activation, computing
    exactly what it did before `adapt`. The layers stay frozen as `adapt`
    left them (`model.trainable = True` unfreezes them).

    Returns:
        `model`, without adapters.
    """
    for adapter in _adapters_of(model, "unload"):
        adapter.layer.activation = adapter.activation
        replace_in_place(model, adapter, adapter.layer)
    unwrap_unchanged(model)
    _forget_compiled_functions(model, uncompile=True)
    return model


def merge(model):
    """Fold every adapter into its layer's kernel and bias, in place, and take
    the adapters off (peft's `merge_and_unload`): plain Dense and EinsumDense
    layers again, computing what the adapted model did, at no extra cost.

    Returns:
        `model`, merged.

    Example:

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> merged = keras_crosswise.adapters.merge(
    ...     keras_crosswise.adapters.adapt(model, kind="cz")
    ... )
    >>> type(merged.layers[0]).__name__
    'Dense'
    """
    adapters = _adapters_of(model, "merge")
    folded = [(adapter, adapter.merged_weights()) for adapter in adapters]
    for adapter, (kernel, bias) in folded:
        layer = adapter.layer
        layer.kernel.assign(kernel.astype(layer.kernel.dtype))
        if bias is not None:
            layer.bias.assign(bias.astype(layer.bias.dtype))
    return unload(model)


def disable(model):
    """Make every adapter of `model` compute its layer alone (the base model's
    outputs), without removing it; `enable` turns them back on."""
    _switch(model, False)


def enable(model):
    """Turn the adapters of `model` back on after `disable`."""
    _switch(model, True)


@contextlib.contextmanager
def disabled(model):
    """The base model's outputs inside the block (peft's `disable_adapter`):

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> model = keras_crosswise.adapters.adapt(model, kind="ia3")
    >>> with keras_crosswise.adapters.disabled(model):
    ...     base = model(np.ones((1, 4)))
    """
    disable(model)
    try:
        yield model
    finally:
        enable(model)


def save_adapters(model, path):
    """Save an adapted model's adapters, and the weights of the layers named
    in `train` (every other trainable weight), to `path`, a `.npz` file
    written atomically (a failed write leaves an older file whole).

    Each adapter is stored under its layer's path with its kind, seed and
    shapes: kilobytes, not the model. `load_adapters` puts them on the same
    base model (as keras-hub's `save_lora_weights`). The file is written at
    `path` exactly (no suffix is added).
    """
    adapters = _adapters_of(model, "save")
    paths = layer_paths(model)
    entries, arrays = [], {}
    for adapter in adapters:
        path_of = paths[id(adapter)]
        if any(entry["path"] == path_of for entry in entries):
            raise ValueError(
                f"`model` '{model.name}' has two adapters at the path '{path_of}'; "
                "name its layers apart to save them."
            )
        own = _own_weights(adapter)
        entries.append(
            {
                "path": path_of,
                "kind": adapter.kind,
                "feedforward": adapter.feedforward,
                "seed": adapter.seed,
                "layer": type(adapter.layer).__name__,
                "shapes": {w.name: list(w.shape) for w in own},
            }
        )
        for weight in own:
            arrays[f"adapters/{path_of}/{weight.name}"] = _numpy(weight)
    trained, state, by_weight = {}, {}, weight_paths(model)
    for weight, trainable in _trained_variables(model, adapters):
        key = f"trained/{by_weight[id(weight)]}"
        if key in arrays:
            raise ValueError(
                f"`model` '{model.name}' has two trained weights at the path "
                f"'{key[8:]}'; name its layers apart to save them."
            )
        arrays[key] = _numpy(weight)
        (trained if trainable else state)[key[8:]] = list(weight.shape)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "adapters": entries,
        "trained": trained,
        "state": state,  # a trained layer's other variables (moving statistics)
    }
    _write_atomically(pathlib.Path(path), meta, arrays)


def load_adapters(model, path):
    """Put the adapters that `save_adapters` stored at `path` on `model`, the
    base model they were trained on (or the same model adapted with the
    same kinds), in place, with the trained weights stored beside them; only
    those train afterwards.

    Everything is checked before `model` changes: a file for another model
    (another layer path, layer type, kind, shape or dtype), an edited
    Fastfood permutation or sign vector, a malformed or empty file and an
    unknown format are refused with an error naming the first mismatch, and
    a refused load leaves `model` as it was, flag for flag.

    Returns:
        `model`, adapted.
    """
    check_model(model)
    meta, arrays = _read(pathlib.Path(path))
    paths = {value: key for key, value in layer_paths(model).items()}
    by_id = {id(layer): layer for layer in find_layers(model, lambda layer: True)}
    existing = {id(adapter) for adapter in _adapters(model)}
    planned = []  # (entry, layer or its adapter, adapter, new)
    restore = trainable_flags(model)
    try:
        for index, entry in enumerate(meta["adapters"]):
            layer = by_id.get(paths.get(entry["path"]))
            adapter, new = _adapter_for(model, path, entry, layer, existing, index)
            planned.append((entry, layer, adapter, new))
            _check_adapter_arrays(path, entry, adapter, arrays)
        weights = {id(weight): weight for weight in model.weights}
        by_path = {path: weights[i] for i, path in weight_paths(model).items()}
        trained = []
        for group in ("trained", "state"):
            for weight_path, shape in meta[group].items():
                weight = by_path.get(weight_path)
                if weight is None or list(weight.shape) != list(shape):
                    have = None if weight is None else tuple(weight.shape)
                    raise ValueError(
                        f"{path} holds the trained weight '{weight_path}' of shape "
                        f"{tuple(shape)}; `model` '{model.name}' has "
                        f"{'no such weight' if have is None else f'shape {have}'}."
                    )
                value = arrays.get(f"trained/{weight_path}")
                where = f"{path}: trained weight '{weight_path}'"
                _check_array(where, value, weight)
                trained.append((weight, value, group == "trained"))
    except Exception:
        for _, _, adapter, new in planned:
            if new:
                adapter.layer.activation = adapter.activation
        restore()
        raise
    for entry, layer, adapter, new in planned:
        if new:
            replace_in_place(model, layer, adapter)
        for weight in _own_weights(adapter):
            weight.assign(arrays[f"adapters/{entry['path']}/{weight.name}"])
    for weight, value, _ in trained:
        weight.assign(value)
    _freeze_all_but(model, [], [weight for weight, _, learns in trained if learns])
    _forget_compiled_functions(model, uncompile=True)
    return model


def _adapter_for(model, path, entry, layer, existing, index):
    """The adapter for a stored entry: the model's own at that path (same
    kind), or a new one around the layer there. Returns `(adapter, new)`."""
    where = f"{path}: adapter {index} ('{entry['path']}')"
    if entry.get("kind") not in KINDS:
        raise ValueError(f"{where} has kind {entry.get('kind')!r}, not one of {KINDS}.")
    if layer is None:
        raise ValueError(
            f"{where}: `model` '{model.name}' has no layer at that path. Is it "
            "the base model the adapters were trained on?"
        )
    if id(layer) in existing:
        if (layer.kind, layer.feedforward) != (entry["kind"], entry["feedforward"]):
            raise ValueError(
                f"{where} is of kind {entry['kind']!r}; `model` has an adapter "
                f"of kind {layer.kind!r} there. `unload` it first."
            )
        return layer, False
    if type(layer).__name__ != entry["layer"]:
        raise ValueError(
            f"{where} adapts a {entry['layer']}; `model` has a "
            f"{type(layer).__name__} there."
        )
    check_adaptable(layer)
    return (
        DiagonalAdapter(
            layer,
            kind=entry["kind"],
            seed=entry["seed"],
            feedforward=entry["feedforward"],
        ),
        True,
    )


def _check_adapter_arrays(path, entry, adapter, arrays):
    for weight in _own_weights(adapter):
        key = f"adapters/{entry['path']}/{weight.name}"
        where = f"{path}: adapter '{entry['path']}' weight `{weight.name}`"
        value = arrays.get(key)
        _check_array(where, value, weight)
        if tuple(value.shape) != tuple(weight.shape):
            raise ValueError(
                f"{where} has shape {tuple(value.shape)}; `model` needs "
                f"{tuple(weight.shape)}. Is it the base model the adapters "
                "were trained on?"
            )
        if weight.name == "permutation":
            check_permutation_rows(where, value, "The file is corrupted or was edited.")
        if weight.name == "signs" and not np.all(np.abs(value) == 1):
            raise ValueError(
                f"{where} must hold only +1 and -1; the file is corrupted or "
                "was edited."
            )


def _read(path):
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise FileNotFoundError(f"No adapters file at {path}.") from None
        raise ValueError(
            f"{path} is not an adapters file written by save_adapters ({error})."
        ) from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, json.JSONDecodeError):
        raise ValueError(
            f"{path} is not an adapters file written by save_adapters (no "
            "readable `meta` entry)."
        ) from None
    if not isinstance(meta, dict):
        raise ValueError(
            f"{path} is not an adapters file written by save_adapters (its "
            "`meta` is not a mapping)."
        )
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(
            f"{path} is in format {meta.get('format')!r} version "
            f"{meta.get('version')!r}; this keras-crosswise reads {FORMAT!r} "
            f"version {VERSION}. (Files of 0.3 were keyed by position: "
            "load them with keras-crosswise 0.3, `merge`, and adapt again.)"
        )
    _check_meta(path, meta)
    return meta, arrays


# What each adapter entry of a file's meta holds, and of which types.
ENTRY_FIELDS = {
    "path": str,
    "kind": str,
    "feedforward": bool,
    "seed": (int, type(None)),
    "layer": str,
    "shapes": dict,
}


def _check_meta(path, meta):
    """A clear error for a meta of the right format whose structure is not
    the one `save_adapters` writes, or that holds no adapter (loading it
    would only freeze the model)."""
    meta.setdefault("state", {})  # files written before moving statistics
    adapters = meta.get("adapters")
    problem = None
    if not isinstance(adapters, list):
        problem = "`adapters` is not a list"
    else:
        for index, entry in enumerate(adapters):
            if not isinstance(entry, dict):
                problem = f"adapter {index} is not a mapping"
                break
            wrong = [
                name
                for name, types in ENTRY_FIELDS.items()
                if not isinstance(entry.get(name), types)
                or (types is str and not entry.get(name))
            ]
            if wrong:
                problem = f"adapter {index} lacks or mistypes {wrong}"
                break
    for group in ("trained", "state"):
        value = meta.get(group)
        if problem is None and not (
            isinstance(value, dict)
            and all(
                isinstance(shape, list) and all(isinstance(n, int) for n in shape)
                for shape in value.values()
            )
        ):
            problem = f"`{group}` is not a mapping of weight paths to shapes"
    if problem:
        raise ValueError(
            f"{path} is not an adapters file written by save_adapters ({problem})."
        )
    if not adapters:
        raise ValueError(
            f"{path} holds no adapters: loading it would only freeze `model`."
        )


def _check_array(where, value, weight):
    """A clear error unless the stored `value` for `weight` is there, and of
    its kind of dtype: a float array for a float weight (an integer, bool or
    string array would be cast silently, or fail half-way through a load),
    an integer one for an integer weight."""
    if value is None:
        raise ValueError(f"{where} is missing: the file is incomplete.")
    want = keras.backend.standardize_dtype(weight.dtype)
    kinds = {"float": np.floating, "int": np.integer, "uint": np.integer}
    needed = next((t for k, t in kinds.items() if want.startswith(k)), None)
    if needed is not None and not np.issubdtype(value.dtype, needed):
        raise ValueError(
            f"{where} has dtype {value.dtype}; `model` needs {want} (an array of "
            f"{needed.__name__} values). The file is corrupted or was edited."
        )


def _write_atomically(path, meta, arrays):
    """`np.savez` into `path`, atomically (`_files.write_atomically`)."""
    write_atomically(
        path, lambda file: np.savez(file, meta=np.array(json.dumps(meta)), **arrays)
    )


def _trained_variables(model, adapters):
    """`(variable, trainable)` for every trainable weight outside the
    adapters, and every other variable of the layers that own one (a
    BatchNormalization in `train` has moving statistics that its training
    changes too)."""
    inside = {id(w) for adapter in adapters for w in adapter.weights}
    owner = {}
    for layer in find_layers(model, lambda layer: True):  # deepest owner last
        for weight in layer.weights:
            owner[id(weight)] = layer
    trainable = [w for w in model.trainable_weights if id(w) not in inside]
    chosen = {id(w): (w, True) for w in trainable}
    for weight in trainable:
        layer = owner.get(id(weight))
        for other in [] if layer is None else layer.weights:
            if id(other) not in inside:
                chosen.setdefault(id(other), (other, False))
    return list(chosen.values())


def _numpy(weight):
    return np.asarray(keras.ops.convert_to_numpy(weight.value))


def _adapters(model):
    return adapters_in(model)


def _adapters_of(model, action):
    check_model(model)
    adapters = _adapters(model)
    if not adapters:
        raise ValueError(
            f"`model` '{model.name}' has no adapters to {action} (no "
            "DiagonalAdapter layer); `keras_crosswise.adapters.adapt` adds them."
        )
    return adapters


def _own_weights(adapter):
    """The adapter's own weights (learned vectors and fixed draws), without
    the wrapped layer's."""
    inner = {id(w) for w in adapter.layer.weights}
    return [w for w in adapter.weights if id(w) not in inner]


def _why_not_adaptable(model, layer, adapted, trained):
    if id(layer) in adapted:
        return "it is already adapted (`merge` or `unload` the model first)"
    if id(layer) in trained:
        return (
            "it is trained in full (`train` names it or a layer holding it); a "
            "layer is either adapted or trained"
        )
    return why_not_eligible(model, layer, ADAPTABLE, QUANTIZATION)


def _choose(model, kind, layers, trained):
    adapted = {id(adapter.layer) for adapter in _adapters(model)}
    inside_trained = {id(layer) for layer in trained}
    for layer in trained:
        inside_trained |= {id(x) for x in find_layers(layer, lambda x: True)}
    spec = _default_targets(model, kind) if layers is None else layers
    return choose(
        model,
        spec,
        lambda layer: _why_not_adaptable(model, layer, adapted, inside_trained),
        ADAPTABLE,
        "adapt",
        layers,
        " (every one is adapted already)" if adapted else "",
    )


def _default_targets(model, kind):
    """keras-hub's targets where the model holds a keras-hub backbone (its
    `default_lora_layer_names`), else every Dense and EinsumDense."""
    backbones = [
        layer
        for layer in [model, *find_layers(model, lambda layer: True)]
        if callable(getattr(layer, "default_lora_layer_names", None))
    ]
    if not backbones:
        return lambda layer: True
    if kind == "ia3":
        names = set(ATTENTION_KEYS_VALUES + FEEDFORWARD_OUTPUTS)
    else:
        names = {n for b in backbones for n in b.default_lora_layer_names()}
    inside = {
        id(layer) for b in backbones for layer in find_layers(b, lambda layer: True)
    }
    return lambda layer: id(layer) in inside and layer.name in names


def _feedforward(model, kind, feedforward, chosen):
    """The ids of the chosen layers whose input (IA)³ scales."""
    if kind != "ia3":
        if feedforward is not None:
            raise ValueError(
                f"`feedforward` goes with kind='ia3'; got kind={kind!r} and "
                f"feedforward={feedforward!r}."
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


def _trained(model, train):
    if train is None:
        return []
    return select_layers(model, train, lambda layer: None, "train")


def _freeze_all_but(model, layers, weights):
    """Freeze every layer of `model` but its adapters' learned vectors, the
    given layers and the given weights (keras-hub's `enable_lora` freezes
    so: layer by layer, then per variable)."""
    model.trainable = True
    for layer in find_layers(model, lambda layer: True):
        layer.trainable = False
    for adapter in _adapters(model):
        adapter.trainable = True  # re-applies its own flags: W and F stay fixed
    for layer in layers:
        layer.trainable = True
    for weight in weights:
        weight.trainable = True


def _switch(model, on):
    for adapter in _adapters_of(model, "enable" if on else "disable"):
        adapter.enabled = on
    _forget_compiled_functions(model)


def _forget_compiled_functions(model, uncompile=False):
    """Traced train/test/predict functions hold the old computation: make
    Keras trace again; with `uncompile`, ask for `compile` (the optimizer was
    built for other trainable weights)."""
    for name in ("train_function", "test_function", "predict_function"):
        if hasattr(model, name):
            setattr(model, name, None)
    if uncompile and getattr(model, "compiled", False):
        model.compiled = False
