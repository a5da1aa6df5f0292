"""Text from the running interpreter's standard library, for the pretrained
encoder of benchmarks/pretrain_encoder.py and its downstream tasks.

A *unit* is a top-level package (all its `.py` files) or a top-level module
of the standard library. The regression tests of the `test` package are
units too (one per test file or folder). Units are split three ways:

- `HELD_OUT_PACKAGES` and `HELD_OUT_MODULES`: never seen in pretraining
  (neither by the tokenizer nor by the encoder); the two downstream tasks
  ask which of them a snippet comes from;
- every other unit of at least `MIN_UNIT_BYTES`, but the tests of held-out
  units: a class of the supervised pretraining task (which unit a snippet
  comes from).

Snippets are `[CLS]` followed by `LENGTH - 1` tokens of a unit's source
(its files in sorted order, code, docstrings and comments alike).
"""

import hashlib
import pathlib
import platform
import sysconfig

import numpy as np

LENGTH = 64
VOCABULARY = 16384
SPECIAL = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")
CLS = SPECIAL.index("[CLS]")
MIN_UNIT_BYTES = 20_000
# Folders that are not the standard library's own source, or that would
# dwarf it (the regression tests are a copy of the library's API, file by file).
SKIPPED = {"site-packages", "test", "__pycache__", "lib-dynload", "turtledemo"}
# (`test` is read file by file: see `units`.)
HELD_OUT_PACKAGES = (
    "concurrent",
    "email",
    "html",
    "http",
    "logging",
    "urllib",
    "xml",
    "xmlrpc",
)
HELD_OUT_MODULES = (
    "argparse",
    "configparser",
    "datetime",
    "difflib",
    "pdb",
    "pickle",
    "shutil",
    "subprocess",
    "tarfile",
    "typing",
)


def stdlib_root():
    return pathlib.Path(sysconfig.get_paths()["stdlib"])


def units(root=None):
    """`{unit: [source text of each file]}` over the standard library: its
    top-level packages and modules, and the regression tests of its `test`
    package (`test.test_NAME`, a file or folder each)."""
    root = stdlib_root() if root is None else pathlib.Path(root)
    found = {}
    tests = sorted((root / "test").glob("test_*")) if (root / "test").is_dir() else []
    for entry in [*sorted(root.iterdir()), *tests]:
        if entry.name in SKIPPED or entry.name.startswith(("config-", "_sysconfig")):
            continue
        if entry.is_dir() and any(entry.glob("*.py")):
            files = sorted(entry.rglob("*.py"))
        elif entry.suffix == ".py":
            files = [entry]
        else:
            continue
        texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
        if sum(map(len, texts)):
            prefix = "test." if entry.parent.name == "test" else ""
            found[prefix + entry.name.removesuffix(".py")] = texts
    return found


def corpus_record(found):
    """What the corpus is: Python version, sizes and a SHA-256 of its text."""
    digest = hashlib.sha256()
    for name in sorted(found):
        digest.update(name.encode())
        for text in found[name]:
            digest.update(text.encode("utf-8", errors="replace"))
    return {
        "python": platform.python_version(),
        "units": len(found),
        "characters": sum(len(t) for texts in found.values() for t in texts),
        "sha256": digest.hexdigest(),
    }


def split_units(found):
    """(pretraining units, held-out units): the pretraining classes are the
    units of at least `MIN_UNIT_BYTES` outside the held-out ones and their
    tests (every unit whose name contains a held-out name: `test.test_email`,
    `test.test_httplib`, ...)."""
    held = set(HELD_OUT_PACKAGES) | set(HELD_OUT_MODULES)
    missing = held - set(found)
    if missing:
        raise RuntimeError(
            f"This interpreter's standard library lacks {sorted(missing)}: the "
            "downstream tasks need them."
        )
    pretraining = {
        name: texts
        for name, texts in found.items()
        if not any(h in name for h in held) and sum(map(len, texts)) >= MIN_UNIT_BYTES
    }
    return pretraining, {name: found[name] for name in sorted(held)}


def train_tokenizer(pretraining, vocabulary=VOCABULARY):
    """A byte-level BPE of `vocabulary` tokens, trained on the pretraining
    units only."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocabulary,
        special_tokens=list(SPECIAL),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = [t for name in sorted(pretraining) for t in pretraining[name]]
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def token_streams(tokenizer, found):
    """`{unit: int32 array}`, the unit's files' tokens end to end."""
    streams = {}
    for name, texts in found.items():
        ids = [e.ids for e in tokenizer.encode_batch(texts)]
        streams[name] = np.concatenate([np.asarray(i, "int32") for i in ids])
    return streams


def with_cls(windows):
    return np.concatenate(
        [np.full((len(windows), 1), CLS, "int32"), windows.astype("int32")], axis=1
    )


def snippets(stream, count, rng, length=LENGTH):
    """`count` snippets at random offsets of `stream` (they may overlap)."""
    starts = rng.integers(0, len(stream) - length + 1, count)
    return with_cls(np.stack([stream[s : s + length - 1] for s in starts]))


def disjoint_snippets(stream, length=LENGTH):
    """Every non-overlapping snippet of `stream`, in order."""
    body = length - 1
    count = len(stream) // body
    return with_cls(stream[: count * body].reshape(count, body))


def encoder_inputs(token_ids):
    """BertBackbone's input dict for `[CLS]`-led snippets without padding."""
    token_ids = np.asarray(token_ids, "int32")
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": np.ones_like(token_ids),
    }
