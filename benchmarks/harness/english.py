"""Real English text tasks from Debian's packages, and their splits.

- `wordnet_glosses()`: WordNet 3.0 noun definitions (`wordnet-base`'s
  `data.noun`) by supersense, the lexicographer file a synset sits in
  (noun.animal, noun.artifact, ...): a line's second field is that file's
  number, the gloss follows ` | `, and the definition is the gloss up to
  its first `;`.
- `fortunes()`: fortune-cookie entries (`fortunes`' files, one a category,
  entries between lines of `%`) by topic.

Each returns `{class name: [text, ...]}`, in file order. `split` turns that
into per-seed train / validation / test sets.
"""

import pathlib
import re

import numpy as np

WORDNET = pathlib.Path("/usr/share/wordnet/data.noun")
FORTUNES = pathlib.Path("/usr/share/games/fortunes")
# WordNet's lexicographer files 03-28 (lexnames(5WN)): the noun supersenses.
NOUN_SUPERSENSES = [
    "Tops",
    "act",
    "animal",
    "artifact",
    "attribute",
    "body",
    "cognition",
    "communication",
    "event",
    "feeling",
    "food",
    "group",
    "location",
    "motive",
    "object",
    "person",
    "phenomenon",
    "plant",
    "possession",
    "process",
    "quantity",
    "relation",
    "shape",
    "state",
    "substance",
    "time",
]
# fortunes' topical categories with at least 150 entries.
TOPICS = [
    "computers",
    "politics",
    "science",
    "songs-poems",
    "work",
    "men-women",
    "art",
    "law",
    "food",
    "drugs",
    "education",
    "startrek",
    "literature",
    "linux",
]


def _missing(path, package):
    return FileNotFoundError(
        f"{path} not found: it comes with Debian's {package!r} package "
        f"(apt-get install {package})."
    )


def _normalised(text):
    return re.sub(r"\s+", " ", text).strip()


def wordnet_glosses(path=WORDNET, minimum=1):
    """`{"noun.animal": [definition, ...], ...}` from WordNet's `data.noun`
    at `path`, keeping the classes with at least `minimum` definitions."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise _missing(path, "wordnet-base")
    classes = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("  ") or " | " not in line:
                continue  # the licence header
            fields, gloss = line.split(" | ", 1)
            number = int(fields.split(" ")[1]) - 3
            if not 0 <= number < len(NOUN_SUPERSENSES):
                raise ValueError(f"{path}: not a noun data file ({line[:40]!r})")
            definition = _normalised(gloss.split(";")[0])
            if definition:
                name = f"noun.{NOUN_SUPERSENSES[number]}"
                classes.setdefault(name, []).append(definition)
    return {k: v for k, v in classes.items() if len(v) >= minimum}


def fortunes(folder=FORTUNES, topics=TOPICS):
    """`{topic: [entry, ...]}` from the fortune files in `folder`."""
    folder = pathlib.Path(folder)
    classes = {}
    for topic in topics:
        path = folder / topic
        if not path.is_file():
            raise _missing(path, "fortunes")
        text = path.read_text(encoding="utf-8", errors="replace")
        entries = (_normalised(e) for e in re.split(r"^%\s*$", text, flags=re.M))
        classes[topic] = [e for e in entries if e]
    return classes


def unique(classes):
    """`classes` with each text once: a text repeated within a class kept
    once, a text found in two classes dropped from both (it has no one
    label, and could land in two splits)."""
    owners = {}
    for name, texts in classes.items():
        for text in texts:
            owners.setdefault(text, set()).add(name)
    kept = {}
    for name, texts in classes.items():
        kept[name] = list(dict.fromkeys(t for t in texts if len(owners[t]) == 1))
    return kept


def split(classes, train, seed, validation=16, test=100):
    """Per-seed `(train, validation, test)`, each `(texts, labels)`, from
    `classes` (`{name: [text, ...]}`, label = position in sorted names).

    Texts are deduplicated first (`unique`). Per class, a seeded shuffle
    gives up to `test` test items, then `validation`, then `train`: the test
    items of a seed do not depend on `train`, and no text is in two splits.
    Raises ValueError if a class has fewer than `train + validation + 1`
    texts."""
    classes = unique(classes)
    rng = np.random.default_rng([seed, 37])
    parts = ([], [], [])
    for label, name in enumerate(sorted(classes)):
        texts = classes[name]
        if len(texts) < train + validation + 1:
            raise ValueError(
                f"class {name!r} has {len(texts)} distinct texts; "
                f"train={train} and validation={validation} need more"
            )
        order = rng.permutation(len(texts))
        count = min(test, len(texts) - train - validation)
        picks = (
            order[count + validation : count + validation + train],
            order[count : count + validation],
            order[:count],
        )
        for part, chosen in zip(parts, picks, strict=True):
            part.extend((texts[i], label) for i in chosen)
    return tuple(
        ([text for text, _ in part], np.array([y for _, y in part], "int32"))
        for part in parts
    )
