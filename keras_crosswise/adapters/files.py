"""The adapter file: `save_adapters` writes an adapted model's adapters (and
the weights of the layers trained in full) to a small `.npz`, atomically;
`load_adapters` checks everything in it before it changes the model."""

import json
import pathlib
import zipfile

import keras
import numpy as np

from keras_crosswise._files import write_atomically
from keras_crosswise._keras_internals import forget_compiled_functions
from keras_crosswise._surgery import (
    check_model,
    find_layers,
    layer_paths,
    replace_in_place,
    trainable_flags,
    weight_owners,
    weight_paths,
)
from keras_crosswise._surgery.eligibility import adapters_in
from keras_crosswise.adapters.adapting import adapters_of, freeze_all_but, own_weights
from keras_crosswise.adapters.diagonal_adapter import DiagonalAdapter, check_adaptable
from keras_crosswise.adapters.kinds import registered_kinds
from keras_crosswise.ops.fastfood import check_permutation_rows

FORMAT, VERSION = "keras_crosswise.adapters", 2


def save_adapters(model, path):
    """Save an adapted model's adapters, and the weights of the layers named
    in `train` (every other trainable weight), to `path`, a `.npz` file
    written atomically (a failed write leaves an older file whole).

    Each adapter is stored under its layer's path with its kind, seed and
    shapes: kilobytes, not the model. `load_adapters` puts them on the same
    base model (as keras-hub's `save_lora_weights`). The file is written at
    `path` exactly (no suffix is added).
    """
    adapters = adapters_of(model, "save")
    paths = layer_paths(model)
    entries, arrays = [], {}
    for adapter in adapters:
        path_of = paths[id(adapter)]
        if any(entry["path"] == path_of for entry in entries):
            raise ValueError(
                f"`model` '{model.name}' has two adapters at the path '{path_of}'; "
                "name its layers apart to save them."
            )
        own = own_weights(adapter)
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
    existing = {id(adapter) for adapter in adapters_in(model)}
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
        for weight in own_weights(adapter):
            weight.assign(arrays[f"adapters/{entry['path']}/{weight.name}"])
    for weight, value, _ in trained:
        weight.assign(value)
    freeze_all_but(model, [], [weight for weight, _, learns in trained if learns])
    forget_compiled_functions(model, uncompile=True)
    return model


def _adapter_for(model, path, entry, layer, existing, index):
    """The adapter for a stored entry: the model's own at that path (same
    kind), or a new one around the layer there. Returns `(adapter, new)`."""
    where = f"{path}: adapter {index} ('{entry['path']}')"
    if entry.get("kind") not in registered_kinds():
        raise ValueError(
            f"{where} has kind {entry.get('kind')!r}, not one of "
            f"{registered_kinds()} (register a kind of your own before loading)."
        )
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
    for weight in own_weights(adapter):
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
    owner = weight_owners(model)
    trainable = [w for w in model.trainable_weights if id(w) not in inside]
    chosen = {id(w): (w, True) for w in trainable}
    for weight in trainable:
        layer = owner.get(id(weight), (None, None))[0]
        for other in [] if layer is None else layer.weights:
            if id(other) not in inside:
                chosen.setdefault(id(other), (other, False))
    return list(chosen.values())


def _numpy(weight):
    return np.asarray(keras.ops.convert_to_numpy(weight.value))
