"""Diagonal fine-tuning against BitFit, VeRA, Keras's LoRA and full fine-tuning.

Pretrains a model on a source task, then fine-tunes a copy with a new head on
each target task by every method of `harness.fine_tuning` (head only,
BitFit, our `cz`, `cz_bias` and `fastfood` adapters, a dense-matrix VeRA,
Keras's LoRA r = 1, 2, 4 with its biases frozen and trainable, full). Adam;
each method's learning rate is chosen on a validation split (per seed), and
its test accuracy at that rate reported; the head always learns and counts.

Targets:
- digits, new classes (pretrained on digits 0-4, fine-tuned on 5-9), 10 and
  100 images per class; an MLP 64-256-256;
- MNIST-1D, new classes (0-4 -> 5-9), 10 and 100 per class; a 1-D CNN + MLP;
- MNIST-1D blurred (a 9-tap box blur), all 10 classes, 100 per class, from
  a model pretrained on other, sharp MNIST-1D sequences;
- a synthetic sequence task on a 1.0M-parameter transformer (3 keras-hub
  TransformerEncoder blocks, width 128, feed-forward 1024): pretrained to
  tell whether token 1 outnumbers token 2 in a sequence of 32 of 64 tokens,
  fine-tuned (100 per class) to tell whether token 3 outnumbers token 4.

Per target: mean ± std test accuracy and trainable parameters per method,
paired win/tie/loss of each adapter against BitFit and every LoRA with at
least as many parameters (win or loss when the mean paired difference
exceeds its std over seeds), and fit-time ratios against LoRA r = 1.
Writes docs/benchmarks/fine_tuning.json and .png.
Run: KERAS_BACKEND=jax python -m benchmarks.quality.fine_tuning [--seeds 5] [--quick]
(the JSON is written after each target, so an interrupted run keeps its
finished targets).
"""

import pathlib

import keras
import numpy as np

from benchmarks.harness import load_digits_split, load_mnist1d
from benchmarks.harness.fine_tuning import compile_and_fit, paired_calls, prepare
from benchmarks.harness.models import trainable_count
from benchmarks.harness.results import command_line, markdown_table, write_json

METHODS = (
    "head",
    "bitfit",
    "cz",
    "cz_bias",
    "fastfood",
    "vera",
    "lora1",
    "lora1+bias",
    "lora2",
    "lora2+bias",
    "lora4",
    "lora4+bias",
    "full",
)
LEARNING_RATES = (1e-3, 1e-2)
OURS = ("cz", "cz_bias", "fastfood")


def mlp_body(input_shape, conv=False):
    inputs = keras.Input(input_shape)
    hidden = inputs
    if conv:
        hidden = keras.layers.Conv1D(32, 5, activation="relu")(hidden)
        hidden = keras.layers.Conv1D(32, 3, strides=2, activation="relu")(hidden)
        hidden = keras.layers.Flatten()(hidden)
    for i in (1, 2):
        hidden = keras.layers.Dense(256, activation="relu", name=f"hidden{i}")(hidden)
    return inputs, hidden


def transformer_body(length=32, vocabulary=64, width=128, blocks=3):
    import keras_hub

    inputs = keras.Input((length,), dtype="int32")
    hidden = keras_hub.layers.TokenAndPositionEmbedding(vocabulary, length, width)(
        inputs
    )
    for _ in range(blocks):
        hidden = keras_hub.layers.TransformerEncoder(1024, num_heads=4)(hidden)
    return inputs, keras.layers.GlobalAveragePooling1D()(hidden)


def with_head(body, classes):
    inputs, features = body
    return keras.Model(inputs, keras.layers.Dense(classes, name="head")(features))


def per_class(x, y, classes, count, rng):
    """`count` samples of each class in `classes`, labels renumbered 0.."""
    picks = np.concatenate(
        [rng.permutation(np.flatnonzero(y == c))[:count] for c in classes]
    )
    labels = np.searchsorted(np.asarray(classes), y[picks])
    return x[picks], labels


def split_task(x, y, classes, count, seed):
    """Train (`count` per class), validation (up to 50 per class) and test
    (the rest) from the pooled samples of `classes`."""
    rng = np.random.default_rng(seed)
    keep = np.isin(y, classes)
    x, y = x[keep], y[keep]
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    train = per_class(x, y, classes, count, rng)
    used = np.zeros(len(y), bool)
    for c in classes:
        used[np.flatnonzero(y == c)[:count]] = True
    rest_x, rest_y = x[~used], y[~used]
    validation = per_class(rest_x, rest_y, classes, 50, rng)
    seen = np.zeros(len(rest_y), bool)
    for c in classes:
        seen[np.flatnonzero(rest_y == c)[:50]] = True
    test = rest_x[~seen], np.searchsorted(np.asarray(classes), rest_y[~seen])
    return train, validation, test


def blurred(x):
    kernel = np.ones(9) / 9
    return np.stack([np.convolve(row, kernel, mode="same") for row in x]).astype(
        "float32"
    )


def token_task(count, seed, first, second, length=32, vocabulary=64):
    """Sequences of uniform tokens, label 1 when token `first` occurs more
    often than `second` (ties redrawn); balanced."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, vocabulary, (count * 4, length))
    difference = (x == first).sum(1) - (x == second).sum(1)
    x, labels = x[difference != 0], (difference[difference != 0] > 0).astype(int)
    picks = np.concatenate([np.flatnonzero(labels == c)[: count // 2] for c in (0, 1)])
    picks = rng.permutation(picks)  # mixed: the splits take consecutive rows
    return x[picks].astype("int32"), labels[picks]


def fit_and_score(model, data, learning_rate, epochs, batch_size):
    """Fit on `data`'s training part; (validation accuracy, fit seconds)."""
    train, validation = data
    seconds, _ = compile_and_fit(model, train, learning_rate, epochs, batch_size)
    return model.evaluate(*validation, verbose=0)[1], seconds


def pretrain(body, source, classes, epochs, batch_size=64):
    model = with_head(body, classes)
    fit_and_score(model, (source, source), 1e-3, epochs, batch_size)
    return model


def target_model(pretrained, classes):
    """The pretrained body with a new head for `classes` (shared layers:
    `prepare` copies it per run)."""
    features = pretrained.get_layer("head").input
    return keras.Model(
        pretrained.inputs, keras.layers.Dense(classes, name="head")(features)
    )


def tasks(quick):
    digits = load_digits_split()
    x_digits = np.concatenate(digits[:2])
    y_digits = np.concatenate(digits[2:])
    mnist = load_mnist1d()
    x_mnist = np.concatenate(mnist[:2])[..., None]
    y_mnist = np.concatenate(mnist[2:])
    source_digits = (x_digits[y_digits < 5], y_digits[y_digits < 5])
    source_mnist = (x_mnist[y_mnist < 5], y_mnist[y_mnist < 5])
    counts = (10,) if quick else (10, 100)
    found = {}
    if not quick:  # the large model first: its figures matter most
        found["sequences, 1.0M-parameter transformer, 100 per class"] = {
            "body": transformer_body,
            "source": token_task(4000, 0, 1, 2),
            "source_classes": 2,
            "target": _token_target,
            "classes": 2,
            "epochs": 10,
            "pretrain_epochs": 8,
        }
    for count in counts:
        found[f"digits new classes, {count} per class"] = {
            "body": lambda: mlp_body((64,)),
            "source": source_digits,
            "source_classes": 5,
            "target": lambda seed, c=count: split_task(
                x_digits, y_digits, range(5, 10), c, seed
            ),
            "classes": 5,
        }
        if quick:
            continue
        found[f"MNIST-1D new classes, {count} per class"] = {
            "body": lambda: mlp_body((40, 1), conv=True),
            "source": source_mnist,
            "source_classes": 5,
            "target": lambda seed, c=count: split_task(
                x_mnist, y_mnist, range(5, 10), c, seed
            ),
            "classes": 5,
        }
    if quick:
        return found
    # Pretrained on the first 2500 sharp sequences, fine-tuned on the other
    # 2500, blurred: no target sample was seen in pretraining.
    blurry = blurred(x_mnist[2500:, :, 0])[..., None]
    found["MNIST-1D blurred, 100 per class"] = {
        "body": lambda: mlp_body((40, 1), conv=True),
        "source": (x_mnist[:2500], y_mnist[:2500]),
        "source_classes": 10,
        "target": lambda seed: split_task(blurry, y_mnist[2500:], range(10), 100, seed),
        "classes": 10,
    }
    return found


def _token_target(seed):
    x, y = token_task(1400, 100 + seed, 3, 4)
    return (x[:200], y[:200]), (x[200:400], y[200:400]), (x[400:], y[400:])


def run_task(task, args):
    keras.utils.set_random_seed(0)
    epochs = 1 if args.quick else task.get("epochs", 30)
    pretrained = pretrain(
        task["body"](),
        task["source"],
        task["source_classes"],
        1 if args.quick else task.get("pretrain_epochs", 30),
    )
    runs = {method: [] for method in METHODS}
    for seed in range(min(args.seeds, task.get("seeds", args.seeds))):
        train, validation, test = task["target"](seed)
        keras.utils.set_random_seed(seed)
        base = target_model(pretrained, task["classes"])
        for method in METHODS:
            best = None
            for rate in LEARNING_RATES[:1] if args.quick else LEARNING_RATES:
                model = prepare(base, method, "head", seed)
                score, seconds = fit_and_score(
                    model, (train, validation), rate, epochs, batch_size=32
                )
                if best is None or score > best[0]:
                    best = (score, seconds, rate, model)
            _, seconds, rate, model = best
            accuracy = model.evaluate(*test, verbose=0)[1]
            runs[method].append(
                {
                    "accuracy": accuracy,
                    "seconds": seconds,
                    "learning_rate": rate,
                    "trainable": trainable_count(model),
                }
            )
        print(f"  seed {seed} done", flush=True)
    return summarise(runs)


def summarise(runs):
    methods = {}
    for method, results in runs.items():
        accuracies = [r["accuracy"] for r in results]
        methods[method] = {
            "trainable": results[0]["trainable"],
            "accuracy_mean": float(np.mean(accuracies)),
            "accuracy_std": float(np.std(accuracies)),
            "accuracies": accuracies,
            "seconds_mean": float(np.mean([r["seconds"] for r in results])),
            "learning_rates": [r["learning_rate"] for r in results],
        }
    others = [m for m in methods if m == "bitfit" or m.startswith("lora")]
    calls = paired_calls(
        {m: {**r, "accuracy": r["accuracies"]} for m, r in methods.items()},
        OURS,
        others,
    )
    return {"methods": methods, "calls": calls}


def report(results):
    for name, task in results["tasks"].items():
        methods = task["methods"]
        reference = methods["lora1"]["seconds_mean"]
        print(f"\n## {name}\n")
        print(
            markdown_table(
                ["method", "trainable", "test accuracy", "fit time / LoRA r1"],
                [
                    [
                        method,
                        f"{m['trainable']:,}",
                        f"{100 * m['accuracy_mean']:.1f} "
                        f"± {100 * m['accuracy_std']:.1f}",
                        f"{m['seconds_mean'] / reference:.2f}",
                    ]
                    for method, m in methods.items()
                ],
            )
        )
        print()
        print(markdown_table(["ours", "against", "points", "call"], task["calls"]))


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["tasks"])
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.5 * columns, 3.6 * rows), squeeze=False
    )
    for axis in axes.flat[len(names) :]:
        axis.set_visible(False)
    for axis, name in zip(axes.flat, names, strict=False):
        for method, m in results["tasks"][name]["methods"].items():
            marker = (
                "o" if method in OURS else "s" if method.startswith("lora") else "^"
            )
            axis.errorbar(
                m["trainable"],
                100 * m["accuracy_mean"],
                yerr=100 * m["accuracy_std"],
                fmt=marker,
                label=method,
            )
        axis.set_xscale("log")
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("trainable parameters")
    for row in axes:
        row[0].set_ylabel("test accuracy (%)")
    axes.flat[len(names) - 1].legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def arguments(parser):
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--targets", nargs="*", default=None, help="target names (default: all)"
    )


def run(args):
    if args.quick:
        args.seeds = 1
    results = {"seeds": args.seeds, "learning_rates": LEARNING_RATES, "tasks": {}}
    out = pathlib.Path(args.out)
    for name, task in tasks(args.quick).items():
        if args.targets is not None and name not in args.targets:
            continue
        print(f"{name}", flush=True)
        results["tasks"][name] = run_task(task, args)
        write_json(out / "fine_tuning.json", results)  # each task as it ends
    plot(results, out / "fine_tuning.png")
    return results


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
