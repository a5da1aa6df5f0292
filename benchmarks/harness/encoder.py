"""The pretrained standard-library encoder (benchmarks/pretrain_encoder.py):
its architecture, and the asset it is stored as.

The asset is a folder: `tokenizer.json` (the BPE), `encoder.json` (the
backbone's config, the pretraining classes, the corpus record, the curve)
and `weights.npz` (every weight of the classifier, keyed by its path, in
float16: the asset stays small; loading casts back to float32).
"""

import json
import os
import pathlib
import tempfile

import keras
import numpy as np

ASSET = pathlib.Path(__file__).resolve().parents[1] / "assets" / "stdlib_encoder"
ARCHITECTURE = {  # keras-hub BertBackbone arguments, but the vocabulary size
    "num_layers": 4,
    "num_heads": 4,
    "hidden_dim": 128,
    "intermediate_dim": 512,
}
TINY = {"num_layers": 1, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32}


def encoder(backbone_config):
    """(a keras-hub BertBackbone "encoder" from `backbone_config`, its
    `keras.Input`s by name)."""
    import keras_hub

    backbone = keras_hub.models.BertBackbone(**backbone_config, name="encoder")
    inputs = {
        name: keras.Input((None,), dtype="int32", name=name)
        for name in ("token_ids", "segment_ids", "padding_mask")
    }
    return backbone, inputs


def classifier(backbone_config, classes, dropout=None, pooling="cls"):
    """A keras-hub BertBackbone from `backbone_config` with a `head` Dense of
    `classes` logits on its pooled `[CLS]` output (`pooling="cls"`) or on the
    mean of its sequence output (`"mean"`: an encoder pretrained by masked
    language modelling, which never trains `[CLS]` or the pooler)."""
    config = dict(backbone_config)
    if dropout is not None:
        config["dropout"] = dropout
    backbone, inputs = encoder(config)
    outputs = backbone(inputs)
    if pooling == "mean":
        features = keras.layers.GlobalAveragePooling1D(name="mean_pool")(
            outputs["sequence_output"]
        )
    else:
        features = outputs["pooled_output"]
    logits = keras.layers.Dense(classes, name="head")(features)
    return keras.Model(inputs, logits, name="stdlib_classifier")


def weight_arrays(model, dtype="float16"):
    return {w.path: keras.ops.convert_to_numpy(w).astype(dtype) for w in model.weights}


def set_weight_arrays(model, arrays, skip=()):
    """Loads `arrays` (by weight path) into `model`; paths in `skip` keep
    their values. Raises on a missing or misshapen weight."""
    for weight in model.weights:
        if weight.path.split("/")[0] in skip:
            continue
        value = arrays[weight.path]
        if tuple(value.shape) != tuple(weight.shape):
            raise ValueError(f"{weight.path}: {value.shape} != {weight.shape}")
        weight.assign(value.astype(weight.dtype))


def write_atomically(path, write):
    """`write(temporary_path)`, then renamed onto `path`."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text_atomically(path, text):
    write_atomically(path, lambda temporary: pathlib.Path(temporary).write_text(text))


def save_asset(folder, model, tokenizer, record):
    folder = pathlib.Path(folder)
    arrays = weight_arrays(model)
    write_atomically(folder / "weights.npz", lambda p: np.savez(p, **arrays))
    write_atomically(folder / "tokenizer.json", tokenizer.save)
    write_text_atomically(folder / "encoder.json", json.dumps(record, indent=1) + "\n")


def pooling(record):
    """How the asset's classifier pools: `"cls"` unless the record says."""
    return record.get("pooling", "cls")


def load_record(folder=ASSET):
    """The asset's `encoder.json`: config, classes, corpus, curve."""
    return json.loads((pathlib.Path(folder) / "encoder.json").read_text())


def load_asset(folder=ASSET, dropout=None):
    """(classifier with the pretrained weights, tokenizer, record). An
    encoder pretrained without classes (masked language modelling) comes
    with a one-logit head at its initial values."""
    from tokenizers import Tokenizer

    folder = pathlib.Path(folder)
    record = load_record(folder)
    classes = record.get("classes") or []
    model = classifier(
        record["backbone"], max(1, len(classes)), dropout, pooling(record)
    )
    with np.load(folder / "weights.npz") as arrays:
        set_weight_arrays(model, dict(arrays), skip=() if classes else ("head",))
    return model, Tokenizer.from_file(str(folder / "tokenizer.json")), record
