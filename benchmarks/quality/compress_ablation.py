"""Which stage of `compress` helps? An ablation against the naive recipe.

Teachers: a digits MLP 64-512-512-10 (30 epochs) and the three teachers of
benchmarks/quality/compress.py, trained as there (Adam 1e-3, batch 128). Each hidden
Dense layer with at least 8192 weights becomes a FastfoodDense. Every row
distils for the same `--epochs` (default 20) and changes one thing from its
base row; the naive recipe is a fresh student of the same structure trained
on plain MSE to the teacher's logits (Adam 1e-3, batch 64), the same as
`compress(x, y=None, init="fresh", layer_epochs=0, temperature=None,
batch_size=64, optimizer=Adam(1e-3))`. The last rows are compress's
defaults. Mean ± std test accuracy over `--seeds` (default 3) and seconds
per distillation epoch against the teacher's own `fit` epoch.
Run: KERAS_BACKEND=jax python -m benchmarks.quality.compress_ablation [--seeds 3]
"""

import time

import keras
import numpy as np

import keras_crosswise
from benchmarks.harness import load_digits_split, load_mnist1d
from benchmarks.harness.results import command_line, markdown_table, write_json
from benchmarks.quality.compress import TEACHERS as BENCHMARK_TEACHERS
from benchmarks.quality.compress import mlp, train

# compress's defaults up to 0.2, and the naive recipe, spelled out.
OLD = {
    "init": "projection",
    "layer_epochs": 3,
    "temperature": 2.0,
    "label_weight": 0.5,
    "batch_size": 128,
    "learning_rate": 1e-3,
}
NAIVE = {
    "init": "fresh",
    "layer_epochs": 0,
    "temperature": None,
    "labels": False,
    "batch_size": 64,
    "learning_rate": 1e-3,
}
VARIANTS = {
    "0.2 defaults (projection, layer fit 3, KL T=2, labels 0.5, batch 128)": OLD,
    "  layer-wise fit off": {**OLD, "layer_epochs": 0},
    "  layer-wise fit 10 epochs": {**OLD, "layer_epochs": 10},
    "  MSE on logits instead of KL": {**OLD, "temperature": None},
    "  no labels (teacher only)": {**OLD, "labels": False},
    "  batch 64": {**OLD, "batch_size": 64},
    "naive recipe (fresh, MSE on logits, no labels, batch 64)": NAIVE,
    "  projection instead of fresh": {**NAIVE, "init": "projection"},
    "  projection + layer-wise fit 3": {
        **NAIVE,
        "init": "projection",
        "layer_epochs": 3,
    },
    "  KL T=2 instead of MSE": {**NAIVE, "temperature": 2.0},
    "  labels at 0.1": {**NAIVE, "labels": True, "label_weight": 0.1},
    "  labels at 0.5": {**NAIVE, "labels": True, "label_weight": 0.5},
    "  Adam 3e-3": {**NAIVE, "learning_rate": 3e-3},
    "  Adam 1e-3 with cosine decay": {**NAIVE, "schedule": "cosine"},
    "  twice the epochs": {**NAIVE, "epoch_factor": 2},
    "0.3 defaults (fresh, KL T=2, labels 0.5, batch 64, Adam 3e-3)": {},
    "  without labels": {"labels": False},
}
COMPRESS_OPTIONS = ("init", "layer_epochs", "temperature", "label_weight", "batch_size")


TEACHERS = {
    "digits MLP 64-512-512-10": (load_digits_split, mlp, (512, 512), 30),
    **{
        f"{name} (benchmarks/quality/compress.py)": t
        for name, t in BENCHMARK_TEACHERS.items()
    },
}


def accuracy(model, x, y):
    return float(np.mean(model.predict(x, verbose=0).argmax(axis=-1) == y))


def optimizer(settings, steps):
    """The row's optimizer, or `None` for compress's default."""
    if "learning_rate" not in settings and "schedule" not in settings:
        return None
    rate = settings.get("learning_rate", 1e-3)
    if settings.get("schedule") == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, steps)
    return keras.optimizers.Adam(rate)


def run_variant(teacher, data, settings, epochs, seed, min_params=8192):
    x_train, x_test, y_train, y_test = data
    options = {key: settings[key] for key in COMPRESS_OPTIONS if key in settings}
    epochs = epochs * settings.get("epoch_factor", 1)
    steps = epochs * -(-len(x_train) // options.get("batch_size", 64))
    chosen = optimizer(settings, steps)
    if chosen is not None:
        options["optimizer"] = chosen
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    student = keras_crosswise.compress(
        teacher,
        x_train,
        y_train if settings.get("labels", True) else None,
        into="fastfood",
        min_params=min_params,
        epochs=epochs,
        seed=seed,
        verbose=0,
        **options,
    )
    seconds = time.perf_counter() - start
    return accuracy(student, x_test, y_test), seconds / epochs


def teacher_for(name, seed, quick):
    load, architecture, widths, epochs = TEACHERS[name]
    data = load() if load is load_mnist1d else load(seed)
    if quick:
        data = tuple(part[:256] for part in data)
        widths, epochs = tuple(w // 8 for w in widths), 1
    keras.utils.set_random_seed(seed)
    teacher = architecture(data[0].shape[1], widths)
    return teacher, data, train(teacher, data, epochs) / epochs


def arguments(parser):
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--teachers", nargs="*", default=list(TEACHERS))
    parser.add_argument(
        "--variants", nargs="*", default=None, help="labels to run (default: all)"
    )


def run(args):
    variants = {
        k: v for k, v in VARIANTS.items() if args.variants is None or k in args.variants
    }
    if args.quick:
        args.seeds, args.epochs = 1, 1
        variants = {k: v for k, v in variants.items() if not k.startswith("  ")}
    min_params = 1024 if args.quick else 8192
    teachers = {}
    for name in args.teachers:
        rows = {label: [] for label in variants}
        teacher_scores, teacher_seconds = [], []
        for seed in range(args.seeds):
            teacher, data, epoch_seconds = teacher_for(name, seed, args.quick)
            teacher_scores.append(accuracy(teacher, data[1], data[3]))
            teacher_seconds.append(epoch_seconds)
            for label, settings in variants.items():
                rows[label].append(
                    run_variant(teacher, data, settings, args.epochs, seed, min_params)
                )
        teachers[name] = {
            "teacher": float(np.mean(teacher_scores)),
            "teacher_epoch_seconds": float(np.mean(teacher_seconds)),
            "variants": {
                label: {
                    "accuracy": float(np.mean([r[0] for r in runs])),
                    "accuracy_std": float(np.std([r[0] for r in runs])),
                    "epoch_seconds": float(np.mean([r[1] for r in runs])),
                }
                for label, runs in rows.items()
            },
        }
        print(f"{name} done", flush=True)
    results = {"seeds": args.seeds, "epochs": args.epochs, "teachers": teachers}
    write_json(f"{args.out}/compress_ablation.json", results)
    return results


def report(results):
    for name, found in results["teachers"].items():
        per_epoch = found["teacher_epoch_seconds"]
        table = [
            [
                label,
                f"{100 * v['accuracy']:.1f} ± {100 * v['accuracy_std']:.1f}",
                f"{v['epoch_seconds'] / per_epoch:.1f}",
            ]
            for label, v in found["variants"].items()
        ]
        print(
            f"\n## {name}: teacher {100 * found['teacher']:.1f}%, "
            f"{results['epochs']} epochs, {results['seeds']} seeds\n"
        )
        print(markdown_table(["variant", "test accuracy", "epoch / teacher's"], table))


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
