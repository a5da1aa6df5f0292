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
    encoder,
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


PREDICTIONS = 10  # masked positions per 64-token snippet (15%)
MASK = text.SPECIAL.index("[MASK]")


def masked(rows, rng, vocabulary):
    """BERT's masking of `[CLS]`-led rows: PREDICTIONS positions per row
    (never `[CLS]`), 80% replaced by `[MASK]`, 10% by a random token, 10%
    kept. Returns (inputs with `mask_positions`, labels)."""
    count, length = rows.shape
    positions = np.sort(
        np.argsort(rng.random((count, length - 1)), axis=1)[:, :PREDICTIONS] + 1,
        axis=1,
    ).astype("int32")
    labels = np.take_along_axis(rows, positions, axis=1)
    draw = rng.random((count, PREDICTIONS))
    replaced = np.where(
        draw < 0.8,
        MASK,
        np.where(
            draw < 0.9,
            rng.integers(len(text.SPECIAL), vocabulary, labels.shape),
            labels,
        ),
    )
    corrupted = rows.copy()
    np.put_along_axis(corrupted, positions, replaced.astype("int32"), axis=1)
    inputs = text.encoder_inputs(corrupted)
    inputs["mask_positions"] = positions
    return inputs, labels


def mlm_data(streams, names, chunk, steps, vocabulary, seed=SEED):
    """Masked snippets of `steps` batches, units drawn by their token count."""
    rng = np.random.default_rng([seed, chunk])
    sizes = np.array([len(streams[n]) for n in names], dtype="float64")
    units = rng.choice(len(names), steps * BATCH, p=sizes / sizes.sum())
    rows = np.concatenate([text.snippets(streams[names[u]], 1, rng) for u in units])
    return masked(rows, rng, vocabulary)


def masked_language_model(backbone_config):
    """The BertBackbone "encoder" with keras-hub's MaskedLMHead. Its output
    projection is its own, not tied to the token embedding: a tied head
    does not reload from a `.keras` checkpoint (keras-hub 0.32)."""
    import keras_hub

    backbone, inputs = encoder(backbone_config)
    positions = keras.Input((PREDICTIONS,), dtype="int32", name="mask_positions")
    sequence = backbone(inputs)["sequence_output"]
    logits = keras_hub.layers.MaskedLMHead(
        vocabulary_size=backbone_config["vocabulary_size"],
        intermediate_activation="gelu",
        name="mlm_head",
    )(sequence, mask_positions=positions)
    return keras.Model({**inputs, "mask_positions": positions}, logits)


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
    parser.add_argument(
        "--objective",
        choices=("supervised", "mlm"),
        default="supervised",
        help="which-unit classification, or masked language modelling",
    )
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
    mlm = args.objective == "mlm"
    vocabulary = tokenizer.get_vocab_size()
    if mlm:  # validation: the held-out snippets, masked once
        validation = masked(
            validation[0]["token_ids"], np.random.default_rng([SEED, 7]), vocabulary
        )
    state_path, model_path = checkpoints / "state.json", checkpoints / "model.keras"
    if state_path.exists():
        state = json.loads(state_path.read_text())
        if (
            state["total"] != total
            or state["backbone"] != backbone
            or state.get("objective", "supervised") != args.objective
        ):
            raise SystemExit(f"{checkpoints} holds another run: remove it first")
        model = keras.saving.load_model(model_path)
        print(f"resuming at step {state['step']}", flush=True)
    else:
        keras.utils.set_random_seed(SEED)
        network = (
            masked_language_model(backbone) if mlm else classifier(backbone, len(names))
        )
        model = compiled(network, total)
        state = {
            "total": total,
            "backbone": backbone,
            "objective": args.objective,
            "step": 0,
            "curve": [],
        }
    while state["step"] < total:
        chunk = state["step"] // chunk_steps
        steps = min(chunk_steps, total - state["step"])
        if mlm:
            x, y = mlm_data(train, names, chunk, steps, vocabulary)
        else:
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
    if mlm:
        objective = (
            f"masked language modelling: {PREDICTIONS} of the {text.LENGTH} tokens "
            "of a snippet masked (80% [MASK], 10% random, 10% kept)"
        )
        metric_name = "masked-token accuracy (held-out 10% of each unit)"
        chance = 1 / vocabulary
    else:
        objective = (
            f"supervised: which of {len(names)} standard-library units a "
            f"{text.LENGTH}-token snippet comes from"
        )
        metric_name = "validation accuracy (held-out 10% of each unit)"
        chance = 1 / len(names)
    record = {
        "backbone": {**backbone},
        "parameters": int(model.get_layer("encoder").count_params()),
        "classes": [] if mlm else names,
        "pooling": "mean" if mlm else "cls",
        "corpus": corpus,
        "held_out": {
            "packages": list(text.HELD_OUT_PACKAGES),
            "modules": list(text.HELD_OUT_MODULES),
        },
        "objective": objective,
        "pretraining_metric": final["validation_accuracy"],
        "pretraining_metric_name": metric_name,
        "steps": total,
        "batch": BATCH,
        "curve": state["curve"],
        "backend": keras.backend.backend(),
        "chance": chance,
    }
    # The asset keeps the encoder; the MLM head is pretraining's alone.
    save_asset(out, model.get_layer("encoder") if mlm else model, tokenizer, record)
    print(
        f"{out}: {record['parameters']:,} encoder parameters, validation accuracy "
        f"{final['validation_accuracy']:.3f} (chance {chance:.3f}) after "
        f"{total} steps, {math.ceil(final['seconds'])} s in all",
        flush=True,
    )


if __name__ == "__main__":
    main()
