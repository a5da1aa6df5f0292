"""Pretrains the standard-library encoder: benchmarks/assets/stdlib_encoder.

Corpus: the running interpreter's standard library source (code, docstrings
and comments), less the held-out units of `harness.text` (the downstream
tasks' text). Tokenizer: a byte-level BPE trained on that corpus.

Model: a keras-hub BertBackbone (`harness.encoder.ARCHITECTURE`, about 2.9M
parameters, 16,384 tokens) with a Dense head on its pooled `[CLS]` output.

Objective: supervised, "which standard-library unit (package, module or
regression-test file) does this 64-token snippet come from", over the 250
pretraining units, classes sampled uniformly, snippets at random offsets. Why not masked
language modelling: on two CPU cores an MLM encoder of this size sits on the
unigram plateau for its first thousands of steps (a first try stopped at
12.7% MLM accuracy after 21 minutes, and its features made fine-tuning worse
than a random initialisation); the supervised task converges in minutes and
teaches what the downstream tasks need: which code is which.

AdamW (peak 1e-3, warm-up 5%, cosine decay, weight decay 0.01), batch 32,
dropout 0.1 (a first run without dropout memorised its training text: 99%
training accuracy, 60% validation, and features that made fine-tuning worse
than a random initialisation). The data of each chunk of steps is a
function of the chunk's number, so a resumed run sees what an uninterrupted
one would; weights and optimizer state come from the checkpoint. Validation:
the last 10% of each unit's tokens, never trained on; the curve is recorded
every chunk of steps. Checkpoints (`.keras` with the optimizer) after every
chunk: an interrupted run resumes where it stopped.

    KERAS_BACKEND=jax python benchmarks/pretrain_encoder.py   # ~35 min
    python benchmarks/pretrain_encoder.py --fast --out /tmp/e  # seconds
"""

import argparse
import json
import math
import pathlib
import time

import keras
import numpy as np

from harness import text
from harness.encoder import (
    ARCHITECTURE,
    ASSET,
    TINY,
    classifier,
    save_asset,
    write_atomically,
    write_text_atomically,
)

STEPS, FAST_STEPS = 5000, 12
CHUNK, FAST_CHUNK = 500, 4
BATCH = 32
PEAK_RATE = 1e-3
VALIDATION_PER_CLASS = 40
VALIDATION_SHARE = 0.1
SEED = 0


def data(streams, names, chunk, steps, seed=SEED):
    """The snippets and labels of `steps` batches, a function of `chunk`."""
    rng = np.random.default_rng([seed, chunk])
    labels = rng.integers(0, len(names), steps * BATCH)
    rows = np.concatenate(
        [
            text.snippets(streams[names[label]], 1, rng)
            for label in labels  # one draw per row, in order: reproducible
        ]
    )
    return text.encoder_inputs(rows), labels


def schedule(total):
    warmup = max(1, total // 20)
    return keras.optimizers.schedules.CosineDecay(
        0.0, total - warmup, warmup_target=PEAK_RATE, warmup_steps=warmup
    )


def compiled(model, total):
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule(total), weight_decay=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def prepare(fast):
    found = text.units()
    record = text.corpus_record(found)
    pretraining, _ = text.split_units(found)
    if fast:  # a few units, a tiny tokenizer
        pretraining = {n: pretraining[n] for n in sorted(pretraining)[:4]}
    tokenizer = text.train_tokenizer(
        pretraining, vocabulary=512 if fast else text.VOCABULARY
    )
    streams = text.token_streams(tokenizer, pretraining)
    names = sorted(streams)
    train, validation = {}, {}
    for name in names:
        cut = int(len(streams[name]) * (1 - VALIDATION_SHARE))
        train[name], validation[name] = streams[name][:cut], streams[name][cut:]
    rng = np.random.default_rng([SEED, 10**6])
    held = np.concatenate(
        [text.snippets(validation[n], VALIDATION_PER_CLASS, rng) for n in names]
    )
    labels = np.repeat(np.arange(len(names)), VALIDATION_PER_CLASS)
    return record, tokenizer, names, train, (text.encoder_inputs(held), labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ASSET), help="the asset folder")
    parser.add_argument("--checkpoints", default=None, help="default: OUT/../NAME.ckpt")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--fast", action="store_true", help="a tiny run, seconds")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    checkpoints = pathlib.Path(args.checkpoints or out.with_suffix(".ckpt"))
    total = args.steps or (FAST_STEPS if args.fast else STEPS)
    chunk_steps = FAST_CHUNK if args.fast else CHUNK
    began = time.perf_counter()
    corpus, tokenizer, names, train, validation = prepare(args.fast)
    backbone = {
        **(TINY if args.fast else ARCHITECTURE),
        "vocabulary_size": tokenizer.get_vocab_size(),
        "max_sequence_length": text.LENGTH,
        "dropout": 0.1,
    }
    state_path, model_path = checkpoints / "state.json", checkpoints / "model.keras"
    if state_path.exists():
        state = json.loads(state_path.read_text())
        if state["total"] != total or state["backbone"] != backbone:
            raise SystemExit(f"{checkpoints} holds another run: remove it first")
        model = keras.saving.load_model(model_path)
        print(f"resuming at step {state['step']}", flush=True)
    else:
        keras.utils.set_random_seed(SEED)
        model = compiled(classifier(backbone, len(names)), total)
        state = {"total": total, "backbone": backbone, "step": 0, "curve": []}
    while state["step"] < total:
        chunk = state["step"] // chunk_steps
        steps = min(chunk_steps, total - state["step"])
        x, y = data(train, names, chunk, steps)
        history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        loss, accuracy = model.evaluate(*validation, batch_size=256, verbose=0)
        state["step"] += steps
        state["curve"].append(
            {
                "step": state["step"],
                "train_loss": float(history.history["loss"][-1]),
                "validation_loss": float(loss),
                "validation_accuracy": float(accuracy),
                "seconds": round(time.perf_counter() - began, 1),
            }
        )
        print(json.dumps(state["curve"][-1]), flush=True)
        write_atomically(model_path, model.save)
        write_text_atomically(state_path, json.dumps(state, indent=1))
    final = state["curve"][-1]
    record = {
        "backbone": {**backbone},
        "parameters": int(model.get_layer("encoder").count_params()),
        "classes": names,
        "corpus": corpus,
        "held_out": {
            "packages": list(text.HELD_OUT_PACKAGES),
            "modules": list(text.HELD_OUT_MODULES),
        },
        "objective": (
            f"supervised: which of {len(names)} standard-library units a "
            f"{text.LENGTH}-token snippet comes from"
        ),
        "pretraining_metric": final["validation_accuracy"],
        "pretraining_metric_name": "validation accuracy (held-out 10% of each unit)",
        "steps": total,
        "batch": BATCH,
        "curve": state["curve"],
        "backend": keras.backend.backend(),
        "chance": 1 / len(names),
    }
    save_asset(out, model, tokenizer, record)
    print(
        f"{out}: {record['parameters']:,} encoder parameters, validation accuracy "
        f"{final['validation_accuracy']:.3f} (chance {1 / len(names):.3f}) after "
        f"{total} steps, {math.ceil(final['seconds'])} s in all",
        flush=True,
    )


if __name__ == "__main__":
    main()
