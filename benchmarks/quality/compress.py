"""compress() against what a user would try instead, at the same parameters.

Three teachers, each trained here on offline data over `--seeds` seeds:
1. an MNIST-1D MLP 40-512-512-10;
2. a digits MLP 64-1024-1024-10;
3. an MNIST-1D convnet whose Flatten -> Dense(512) -> Dense(10) head holds
   most of the parameters ("Deep Fried Convnets").
For each: `compress(into="fastfood")` and `compress(into="cz")`, then, at the
fastfood student's parameter count, a narrower copy of the teacher (hidden
widths scaled down) trained from scratch and the same net distilled, the
truncated-SVD low rank of each replaced kernel (two Dense layers) distilled,
and Keras's own `quantize("int8")` of the teacher (bytes, not parameters).
Every distillation runs `compress`'s own last step with its defaults (Adam
3e-3, batch 64, temperature 2, labels weighted 0.5, `--distil-epochs`); the
naive recipe (a fresh FastfoodDense student, plain MSE to the teacher's
logits, Adam 1e-3, batch 64, the same epochs) is a row too. Test accuracy,
learned parameters, bytes of the `.keras` file and wall time per candidate.
Writes docs/benchmarks/compress.json, compress_<teacher>.png.
Run: KERAS_BACKEND=jax python -m benchmarks.quality.compress [--seeds 3] [--quick]
"""

import os
import pathlib
import statistics
import tempfile
import time
import warnings

import keras
import numpy as np

import keras_crosswise
from benchmarks.harness import load_digits_split, load_mnist1d
from benchmarks.harness.baselines import low_rank_pair, widest_within
from benchmarks.harness.models import parameter_count
from benchmarks.harness.results import command_line, markdown_table, write_json
from keras_crosswise._surgery import copy_with_swaps
from keras_crosswise.compression.distillation import distil as compress_distil
from keras_crosswise.compression.distillation import outputs_loss

BATCH = 128
NUM_CLASSES = 10


def mlp(input_dim, widths):
    return keras.Sequential(
        [
            keras.Input((input_dim,)),
            *(keras.layers.Dense(w, activation="relu") for w in widths),
            keras.layers.Dense(NUM_CLASSES),
        ]
    )


def convnet(input_dim, widths):
    """Two small Conv1D layers, then the dense head `widths` (hidden)."""
    channels = max(4, widths[0] // 16)
    return keras.Sequential(
        [
            keras.Input((input_dim,)),
            keras.layers.Reshape((input_dim, 1)),
            keras.layers.Conv1D(channels, 5, padding="same", activation="relu"),
            keras.layers.Conv1D(channels, 5, padding="same", activation="relu"),
            keras.layers.Flatten(),
            *(keras.layers.Dense(w, activation="relu") for w in widths[1:]),
            keras.layers.Dense(NUM_CLASSES),
        ]
    )


# name -> (data loader, architecture, widths, teacher epochs)
TEACHERS = {
    "mnist1d_mlp": (load_mnist1d, mlp, (512, 512), 60),
    "digits_mlp": (load_digits_split, mlp, (1024, 1024), 30),
    "mnist1d_convnet": (load_mnist1d, convnet, (512, 512), 30),
}


def compile_classifier(model, learning_rate=1e-3):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def train(model, data, epochs):
    x_train, _, y_train, _ = data
    compile_classifier(model)
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=BATCH, epochs=epochs, verbose=0)
    return time.perf_counter() - start


def distil(teacher, student, data, epochs):
    """Train `student` on `teacher` with `compress`'s own last step and its
    defaults (temperature 2, label weight 0.5, Adam 3e-3, batch 64)."""
    x_train, _, y_train, _ = data
    compress_distil(
        teacher,
        student,
        outputs_loss(2.0, from_logits=True),
        epochs=epochs,
        label_loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        data=(x_train, y_train, 64),
        optimizer=None,
        verbose=0,
    )
    teacher.trainable = True
    return student


def accuracy(model, data):
    _, x_test, _, y_test = data
    outputs = model.predict(x_test, batch_size=1024, verbose=0)
    return float(np.mean(outputs.argmax(axis=-1) == y_test))


def file_bytes(model):
    """Bytes of the saved model alone (an uncompiled copy: no optimizer state)."""
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "model.keras"
        copy_with_swaps(model, {}).save(path)
        return path.stat().st_size


def low_rank(teacher, chosen, budget):
    """Each chosen kernel K ~ U_r S_r V_r^T as Dense(r) -> Dense(units), the
    largest common rank r within `budget` parameters, from the truncated SVD."""

    def factorised(dense, rank):
        kernel, *bias = dense.get_weights()
        u, s, vt = np.linalg.svd(kernel, full_matrices=False)
        root = np.sqrt(s[:rank])
        pair = low_rank_pair(rank, dense.units, dense.activation, kernel.shape[0])
        pair.layers[0].set_weights([u[:, :rank] * root])
        pair.layers[1].set_weights([root[:, None] * vt[:rank], *bias])
        return pair

    def build(rank):
        return copy_with_swaps(teacher, {id(d): factorised(d, rank) for d in chosen})

    full_rank = min(min(dense.kernel.shape) for dense in chosen)
    return widest_within(build, budget, high=full_rank)


def int8_copy(teacher):
    copy = copy_with_swaps(teacher, {})
    with warnings.catch_warnings():  # "InputLayer does not have `quantize`"
        warnings.simplefilter("ignore", UserWarning)
        copy.quantize("int8")
    return copy


def run_seed(name, seed, distil_epochs, quick):
    load, architecture, widths, epochs = TEACHERS[name]
    data = load() if load is load_mnist1d else load(seed)
    if quick:
        data = tuple(part[:300] for part in data)
        widths, epochs = tuple(w // 8 for w in widths), 2
    input_dim = data[0].shape[1]
    keras.utils.set_random_seed(seed)
    teacher = architecture(input_dim, widths)
    teacher_seconds = train(teacher, data, epochs)
    rows = {"teacher": (teacher, teacher_seconds / epochs)}

    students = {}
    for into in ("fastfood", "cz"):
        keras.utils.set_random_seed(seed)
        start = time.perf_counter()
        student = keras_crosswise.compress(
            teacher,
            data[0],
            data[2],
            into=into,
            epochs=distil_epochs,
            seed=seed,
            verbose=0,
        )
        students[into] = student
        rows[f"compress into {into}"] = (student, time.perf_counter() - start)
    # The naive recipe: a fresh student of the same structure, plain MSE to
    # the teacher's logits, the same epochs (Adam 1e-3, batch 64).
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    naive = keras_crosswise.compress(
        teacher,
        data[0],
        into="fastfood",
        epochs=distil_epochs,
        init="fresh",
        layer_epochs=0,
        temperature=None,
        batch_size=64,
        optimizer=keras.optimizers.Adam(1e-3),
        seed=seed,
        verbose=0,
    )
    rows["naive recipe (fresh FastfoodDense, MSE to logits)"] = (
        naive,
        time.perf_counter() - start,
    )
    budget = parameter_count(students["fastfood"])
    chosen = [
        teacher.get_layer(entry.name)
        for entry in students["fastfood"].compression_report.layers
    ]

    def narrow(scale):
        return architecture(input_dim, tuple(max(1, w * scale // 1024) for w in widths))

    keras.utils.set_random_seed(seed)
    scratch = widest_within(narrow, budget)
    rows["narrower Dense, trained"] = (scratch, train(scratch, data, epochs))
    for label, make in (
        ("narrower Dense, distilled", lambda: widest_within(narrow, budget)),
        ("SVD low rank, distilled", lambda: low_rank(teacher, chosen, budget)),
    ):
        keras.utils.set_random_seed(seed)
        student = make()
        start = time.perf_counter()
        distil(teacher, student, data, distil_epochs)
        rows[label] = (student, time.perf_counter() - start)
    rows["teacher int8 (quantize)"] = (int8_copy(teacher), 0.0)
    return {
        label: {
            # int8 keeps every parameter, in fewer bytes.
            "params": parameter_count(teacher if "int8" in label else model),
            "bytes": file_bytes(model),
            "accuracy": accuracy(model, data),
            "seconds": seconds,
            **(
                {"report": str(model.compression_report)}
                if hasattr(model, "compression_report")
                else {}
            ),
        }
        for label, (model, seconds) in rows.items()
    }


def summarise(runs):
    """Mean and standard deviation of each figure over seeds."""
    summary = {}
    for label in runs[0]:
        values = {
            key: [run[label][key] for run in runs]
            for key in ("params", "bytes", "accuracy", "seconds")
        }
        summary[label] = {
            "params": int(statistics.mean(values["params"])),
            "bytes": int(statistics.mean(values["bytes"])),
            "accuracy": statistics.mean(values["accuracy"]),
            "accuracy_std": statistics.pstdev(values["accuracy"]),
            "seconds": statistics.mean(values["seconds"]),
        }
    return summary


def table(summary):
    teacher = summary["teacher"]
    rows = [
        (
            label,
            f"{entry['params']:,}",
            f"{teacher['params'] / entry['params']:.1f}x",
            f"{entry['bytes'] / 1e6:.2f}",
            f"{entry['accuracy']:.3f} ± {entry['accuracy_std']:.3f}",
            f"{100 * (entry['accuracy'] - teacher['accuracy']):+.1f}",
            f"{entry['seconds']:.1f}",
        )
        for label, entry in summary.items()
    ]
    header = (
        "model",
        "params",
        "fewer",
        "MB",
        "test accuracy",
        "points vs teacher",
        "seconds",
    )
    return markdown_table(header, rows)


def plot(name, summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, entry in summary.items():
        for axis, key in zip(axes, ("params", "bytes"), strict=True):
            if key == "params" and label.startswith("teacher int8"):
                continue
            axis.errorbar(
                entry[key],
                entry["accuracy"],
                yerr=entry["accuracy_std"],
                fmt="o",
                capsize=3,
                label=label,
            )
    axes[0].set_xlabel("learned parameters")
    axes[1].set_xlabel("bytes of the .keras file")
    for axis in axes:
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.set_ylabel("test accuracy")
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    figure.suptitle(f"{name}: accuracy against size ({keras.backend.backend()})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def arguments(parser):
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--distil-epochs", type=int, default=30)
    parser.add_argument("--teachers", nargs="*", default=list(TEACHERS))


def run(args):
    seeds, distil_epochs = args.seeds, args.distil_epochs
    if args.quick:
        seeds, distil_epochs = 1, 1
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    teachers = {}
    for name in args.teachers:
        runs = [run_seed(name, s, distil_epochs, args.quick) for s in range(seeds)]
        summary = summarise(runs)
        teachers[name] = {"summary": summary, "runs": runs}
        plot(name, summary, out / f"compress_{name}.png")
        print(f"{name} done", flush=True)
    results = {"seeds": seeds, "distil_epochs": distil_epochs, "teachers": teachers}
    write_json(out / "compress.json", results)
    return results


def report(results):
    for name, found in results["teachers"].items():
        print(f"\n## {name} ({results['seeds']} seeds)\n\n{table(found['summary'])}")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command_line(__doc__, arguments, run, report)
