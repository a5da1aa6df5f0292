"""compress() on all-MiniLM-L6-v2's feed-forward layers, against the naive
recipe (truncated SVD) and a narrower FFN at the same parameters.

The teacher is MiniLM's sentence encoder: the keras-hub `BertBackbone` and
masked mean pooling (384 numbers a text). Its 12 feed-forward Dense layers
(384 -> 1536 -> 384, 7.1M of its 22.7M weights) are replaced four ways:

- `keras_crosswise.compress(into="cz")` and `compress(into="fastfood")`;
- at each of those students' parameter counts (the replaced layers'), the
  truncated SVD of each kernel as a rank-r Dense pair (the naive recipe) and
  a narrower FFN (the w hidden units of largest weight norm kept);

and every student is distilled the same way, `compress`'s own last stage
(mean squared error to the teacher's embeddings, Adam 3e-3, batch 64) on
unlabelled WordNet glosses of the training pools: no text that is a test
item of any seed of the study (`fine_tuning_minilm.py`) is distilled on.

Reported per student: the mean cosine similarity of its sentence embeddings
to the teacher's on held-out glosses (the test items of seed 0); the
frozen-probe accuracy on the WordNet task at 32 a class (logistic regression
on the embeddings, its C chosen on validation, 5 seeds); the parameters of
the replaced layers; and its inference time as a ratio to the teacher's,
measured side by side (interleaved medians). Writes
docs/benchmarks/compress_minilm.json (`fine_tuning_minilm.py` copies it under
its `"compress"` key).

`--recipe gentle` distils every student (and starts the two of `compress`) as
a pretrained encoder may need: Adam at 1e-4 instead of 3e-3, and `compress`'s
replacements projected from the teacher's kernels (`init="projection"`)
instead of fresh; it writes docs/benchmarks/compress_minilm_gentle.json.

Needs what `fine_tuning_minilm.py` needs (requirements/benchmarks-text.txt,
Debian's wordnet-base). Run on one core, in the background:

    KERAS_BACKEND=jax taskset -c 1 python -m benchmarks.studies.compress_minilm
    KERAS_BACKEND=jax taskset -c 1 python -m benchmarks.studies.compress_minilm \\
        --recipe gentle
    python -m benchmarks.studies.compress_minilm --fast --out /tmp/x  # tiny BERT
"""

import argparse
import json
import pathlib
import time

import keras
import numpy as np

import keras_crosswise
from benchmarks.harness import english, minilm
from benchmarks.harness.models import parameter_count
from benchmarks.harness.results import RESULTS_DIR, write_json
from benchmarks.harness.timing import interleaved_medians
from keras_crosswise._surgery import copy_with_swaps
from keras_crosswise.compression.distillation import (
    DEFAULT_LEARNING_RATE,
    distil,
    outputs_loss,
)
from keras_crosswise.compression.structures import fresh_layer

NAME = "compress_minilm.json"
LENGTH = 32  # tokens a gloss, as in the fine-tuning study
SEEDS = 5
TRAIN = 32
BATCH = 64  # compress's default
STRUCTURES = ("cz", "fastfood")
DATA = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data"
FAST = {"texts": 64, "epochs": 1, "held_out": 16, "train": 4, "seeds": 2}
FAST["structures"] = ("cz",)
# name -> (learning rate (None: compress's default, Adam at 3e-3), init, file)
RECIPES = {
    "default": (None, "fresh", NAME),
    "gentle": (1e-4, "projection", "compress_minilm_gentle.json"),
}


def is_feedforward(layer):
    """MiniLM's FFN Dense layers (keras-hub's TransformerEncoder names)."""
    return isinstance(layer, keras.layers.Dense) and "feedforward" in layer.name


def sentence_encoder(backbone):
    """`backbone` and masked mean pooling: a one-output model for `compress`."""
    inputs = {
        name: keras.Input((None,), dtype="int32", name=name)
        for name in ("token_ids", "segment_ids", "padding_mask")
    }
    sequence = backbone(inputs)["sequence_output"]
    mask = keras.ops.cast(inputs["padding_mask"], "bool")
    pooled = keras.layers.GlobalAveragePooling1D(name="mean_pool")(sequence, mask=mask)
    return keras.Model(inputs, pooled, name="sentence_encoder")


def feedforward_pairs(teacher):
    """`[(intermediate, output), ...]`: each encoder layer's two FFN Dense."""
    (backbone,) = [layer for layer in teacher.layers if isinstance(layer, keras.Model)]
    found = [layer for layer in backbone._flatten_layers() if is_feedforward(layer)]
    inner = [layer for layer in found if "intermediate" in layer.name]
    outer = [layer for layer in found if "output" in layer.name]
    return list(zip(inner, outer, strict=True))


def replaced_params(layers):
    """Learned (float) weights of `layers` (as `quality/compress.py` counts)."""
    return sum(parameter_count(layer) for layer in layers)


def _built_dense(units, activation, inputs, weights):
    layer = keras.layers.Dense(units, activation=activation)
    layer.build((None, None, inputs))
    layer.set_weights(weights)
    return layer


def low_rank_swaps(pairs, rank):
    """Each FFN kernel K ~ (U_r sqrt(S_r)) (sqrt(S_r) V_r^T): a Dense(rank,
    no bias) -> Dense(units) pair, from the truncated SVD (the naive recipe)."""
    swaps = {}
    for dense in (layer for pair in pairs for layer in pair):
        kernel, bias = dense.get_weights()
        u, s, vt = np.linalg.svd(kernel, full_matrices=False)
        root = np.sqrt(s[:rank])
        down = keras.layers.Dense(rank, use_bias=False)
        down.build((None, None, kernel.shape[0]))
        down.set_weights([u[:, :rank] * root])
        up = _built_dense(
            dense.units, dense.activation, rank, [root[:, None] * vt[:rank], bias]
        )
        swaps[id(dense)] = keras.Sequential(
            [keras.Input((None, kernel.shape[0])), down, up], name=f"{dense.name}_svd"
        )
    return swaps


def narrow_swaps(pairs, width):
    """Each FFN at `width` hidden units: the units whose weights in and out
    have the largest norm product kept (magnitude pruning of whole units)."""
    swaps = {}
    for intermediate, output in pairs:
        k_in, b_in = intermediate.get_weights()
        k_out, b_out = output.get_weights()
        norms = np.linalg.norm(k_in, axis=0) * np.linalg.norm(k_out, axis=1)
        kept = np.sort(np.argsort(norms)[::-1][:width])
        swaps[id(intermediate)] = _built_dense(
            width, intermediate.activation, k_in.shape[0], [k_in[:, kept], b_in[kept]]
        )
        swaps[id(output)] = _built_dense(
            output.units, output.activation, width, [k_out[kept], b_out]
        )
    return swaps


def within(budget, count, high):
    """The largest size in 1..high whose `count(size)` is at most `budget`
    (1 where even that is over: the row's parameters say so)."""
    return max((s for s in range(1, high + 1) if count(s) <= budget), default=1)


def optimizer_for(learning_rate):
    """`compress`'s optimizer: Adam, at `learning_rate` (None: its default)."""
    return None if learning_rate is None else keras.optimizers.Adam(learning_rate)


def distilled(teacher, student, tokens, epochs, learning_rate=None):
    """`compress`'s last stage with the settings the compress rows use."""
    distil(
        teacher,
        student,
        outputs_loss(None, from_logits=True),
        epochs=epochs,
        label_loss=None,
        data=(tokens, None, BATCH),
        optimizer=optimizer_for(learning_rate),
        verbose=0,
    )
    teacher.trainable = True  # the Distiller freezes the teacher
    return student


def embeddings(model, tokens):
    return np.asarray(model.predict(tokens, batch_size=128, verbose=0), "float64")


def cosine(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.mean(np.sum(a * b, axis=1)))


def probe(model, tokenizer, classes, seeds, train):
    """Frozen-probe test accuracy per seed: logistic regression on the
    embeddings, C from (0.1, 1, 10) chosen on validation. Each distinct text
    is embedded once (the seeds' splits overlap)."""
    from sklearn.linear_model import LogisticRegression

    test = 8 if train < TRAIN else 100
    splits = [english.split(classes, train, seed, test=test) for seed in seeds]
    texts = sorted({t for parts in splits for texts, _ in parts for t in texts})
    vectors = dict(
        zip(texts, embeddings(model, minilm.encode(tokenizer, texts)), strict=True)
    )
    accuracies = []
    for parts in splits:
        (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = [
            (np.array([vectors[t] for t in texts]), labels) for texts, labels in parts
        ]
        fits = [
            LogisticRegression(C=c, max_iter=3000).fit(x_train, y_train)
            for c in (0.1, 1.0, 10.0)
        ]
        best = max(fits, key=lambda fit: fit.score(x_valid, y_valid))
        accuracies.append(float(best.score(x_test, y_test)))
    return accuracies


def pools(classes, seeds, train, held_out, count, fast):
    """Distillation texts (never a test item of any seed) and held-out texts
    (seed 0's test items)."""
    test = 8 if fast else 100
    tests = set()
    for seed in seeds:
        tests.update(english.split(classes, train, seed, test=test)[2][0])
    held = english.split(classes, train, 0, test=test)[2][0][:held_out]
    texts = sorted({t for texts in english.unique(classes).values() for t in texts})
    texts = [t for t in texts if t not in tests]
    rng = np.random.default_rng(37)
    return [texts[i] for i in rng.permutation(len(texts))[:count]], held


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--fast", action="store_true", help="tiny BERT, samples")
    parser.add_argument("--texts", type=int, default=3072, help="distillation texts")
    parser.add_argument("--epochs", type=int, default=2, help="distillation epochs")
    parser.add_argument("--recipe", choices=tuple(RECIPES), default="default")
    args = parser.parse_args()
    learning_rate, init, name = RECIPES[args.recipe]
    fast = FAST if args.fast else {}
    texts_count = fast.get("texts", args.texts)
    epochs = fast.get("epochs", args.epochs)
    train = fast.get("train", TRAIN)
    seeds = range(fast.get("seeds", SEEDS))
    folder = DATA / "tiny_bert" if args.fast else minilm.extracted()
    classes = english.wordnet_glosses(
        *((DATA / "wordnet" / "data.noun",) if args.fast else ()),
        minimum=1 if args.fast else 300,
    )
    tokenizer = minilm.load_tokenizer(folder, LENGTH)
    distil_texts, held_texts = pools(
        classes, seeds, train, fast.get("held_out", 1024), texts_count, args.fast
    )
    tokens = minilm.encode(tokenizer, distil_texts)
    held = minilm.encode(tokenizer, held_texts)

    keras.utils.set_random_seed(0)
    teacher = sentence_encoder(minilm.load_backbone(folder))
    pairs = feedforward_pairs(teacher)
    chosen = [layer for pair in pairs for layer in pair]
    reference = embeddings(teacher, held)
    hidden = pairs[0][0].units
    model_dim = pairs[0][0].kernel.shape[0]

    students = {}
    for into in fast.get("structures", STRUCTURES):
        keras.utils.set_random_seed(0)
        start = time.perf_counter()
        student = keras_crosswise.compress(
            teacher,
            tokens,
            into=into,
            layers=is_feedforward,
            epochs=epochs,
            batch_size=BATCH,
            temperature=None,
            optimizer=optimizer_for(learning_rate),
            init=init,
            seed=0,
            verbose=0,
        )
        teacher.trainable = True
        budget = replaced_params(fresh_layer(dense, into) for dense in chosen)
        students[f"compress into {into}"] = (
            student,
            budget,
            time.perf_counter() - start,
        )
        # Each pair's two layers: rank r costs 2 r (d + h) + h + d, width w
        # 2 d w + w + d (the biases kept).
        per_pair = budget / len(pairs)
        rank = within(
            per_pair,
            lambda r: 2 * r * (model_dim + hidden) + hidden + model_dim,
            hidden,
        )
        width = within(per_pair, lambda w: 2 * model_dim * w + w + model_dim, hidden)
        for label, swaps in (
            (f"SVD rank {rank} (at {into}'s parameters)", low_rank_swaps(pairs, rank)),
            (
                f"narrower FFN {width} (at {into}'s parameters)",
                narrow_swaps(pairs, width),
            ),
        ):
            keras.utils.set_random_seed(0)
            start = time.perf_counter()
            student = copy_with_swaps(teacher, swaps)
            layers = list(swaps.values())
            distilled(teacher, student, tokens, epochs, learning_rate)
            students[label] = (
                student,
                replaced_params(layers),
                time.perf_counter() - start,
            )
        print(into, "done", flush=True)

    timings = interleaved_medians(
        {"teacher": lambda: teacher.predict(held, batch_size=128, verbose=0)}
        | {
            label: (lambda m=model: m.predict(held, batch_size=128, verbose=0))
            for label, (model, _, _) in students.items()
        },
        repeats=3 if args.fast else 7,
    )
    results = {
        "encoder": minilm.NAME if not args.fast else "tiny BERT (tests/data)",
        "replaced_layers": len(chosen),
        "teacher_params": replaced_params(chosen),
        "settings": {
            "distillation_texts": len(distil_texts),
            "held_out_texts": len(held_texts),
            "epochs": epochs,
            "recipe": args.recipe,
            "learning_rate": learning_rate or DEFAULT_LEARNING_RATE,
            "compress_init": init,
            "probe": f"WordNet, {train} a class, {len(seeds)} seeds",
        },
        "teacher": {
            "probe_accuracy": probe(teacher, tokenizer, classes, seeds, train),
        },
        "students": {},
    }
    for label, (model, params, seconds) in students.items():
        results["students"][label] = {
            "params": int(params),
            "cosine": cosine(embeddings(model, held), reference),
            "probe_accuracy": probe(model, tokenizer, classes, seeds, train),
            "time_ratio": timings[label] / timings["teacher"],
            "distil_seconds": round(seconds, 1),
        }
        print(label, json.dumps(results["students"][label]), flush=True)
    print("wrote", write_json(pathlib.Path(args.out) / name, results))


if __name__ == "__main__":
    main()
