"""Fine-tuning the pretrained standard-library encoder: every method, two
held-out tasks, five seeds.

The encoder is benchmarks/assets/stdlib_encoder (benchmarks/
pretrain_encoder.py): a 2.9M-parameter keras-hub BertBackbone pretrained to
tell which of 250 standard-library units a 64-token snippet comes from. The
targets ask the same of units it never saw (nor did its tokenizer):

- `packages`: which of 8 held-out packages (email, http, xml, ...);
- `modules`: which of 10 held-out modules (argparse, typing, tarfile, ...).

Per seed, each unit's disjoint snippets are shuffled and split into 100 for
training, 50 for validation and up to 150 for testing. Each method of
`harness.fine_tuning` (head, BitFit, cz, cz_bias, ia3, fastfood, VeRA,
Keras's LoRA r = 1, 4, 8 with biases frozen and trainable, full) starts
from the pretrained encoder with a new head (dropout 0.1), trains with Adam
for `EPOCHS` epochs at each of its learning rates, keeps the rate with the
best validation accuracy and reports its test accuracy. `random_init_full`
trains the same network from a random initialisation. Adapters of ours and
LoRA sit on every Dense/EinsumDense of the encoder (attention, feed-forward,
pooler); "ia3" on peft's targets (key, value, feed-forward output).

Step time is the median training step after the first epoch; peak memory
(`--memory`) is the peak resident memory of one fine-tuning run in a
process of its own.

Results accumulate in docs/benchmarks/fine_tuning_pretrained.json, written
after every run: an interrupted run resumes where it stopped.

    KERAS_BACKEND=jax python benchmarks/fine_tuning_pretrained.py
    KERAS_BACKEND=jax python benchmarks/fine_tuning_pretrained.py --memory
    python benchmarks/fine_tuning_pretrained.py --fast --out /tmp/x
"""

import argparse
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np

from harness import text
from harness.encoder import (
    ASSET,
    classifier,
    load_asset,
    load_record,
    pooling,
    set_weight_arrays,
    write_text_atomically,
)
from harness.fine_tuning import compile_and_fit, paired_calls, prepare
from harness.models import trainable_count
from harness.timing import RESULTS_DIR, machine_description, markdown_table

METHODS = (
    "head",
    "bitfit",
    "cz",
    "cz_bias",
    "ia3",
    "fastfood",
    "vera",
    "lora1",
    "lora1+bias",
    "lora4",
    "lora4+bias",
    "lora8",
    "lora8+bias",
    "full",
)
OURS = ("cz", "cz_bias", "ia3", "fastfood")
RATES = {"full": (1e-4, 5e-4), "random_init_full": (3e-4, 1e-3)}
DEFAULT_RATES = (1e-3, 1e-2)
TARGETS = {"packages": text.HELD_OUT_PACKAGES, "modules": text.HELD_OUT_MODULES}
TRAIN, VALIDATION, TEST = 100, 50, 150
EPOCHS, BATCH, DROPOUT, SEEDS = 6, 32, 0.1, 5
NAME = "fine_tuning_pretrained.json"
FAST_METHODS = ("head", "ia3", "lora1", "full")  # --fast: a minute


def split(per_class, seed, train=TRAIN):
    """(train, validation, test) of `(inputs, labels)`, a function of `seed`."""
    rng = np.random.default_rng([seed, 7])
    parts = [[], [], []]
    for label, rows in enumerate(per_class):
        rows = rows[rng.permutation(len(rows))]
        bounds = (0, train, train + VALIDATION, train + VALIDATION + TEST)
        for part, a, b in zip(parts, bounds, bounds[1:], strict=False):
            part.append((rows[a:b], np.full(len(rows[a:b]), label)))
    return [
        (
            text.encoder_inputs(np.concatenate([r for r, _ in part])),
            np.concatenate([y for _, y in part]),
        )
        for part in parts
    ]


class Runner:
    def __init__(self, asset, fast):
        self.pretrained, self.tokenizer, self.record = load_asset(asset)
        self.arrays = {
            w.path: keras.ops.convert_to_numpy(w) for w in self.pretrained.weights
        }
        found = text.units()
        self.tasks = {}
        for name, units in TARGETS.items():
            if fast and self.tasks:
                break  # one target of three units
            units = units[:3] if fast else units
            streams = text.token_streams(self.tokenizer, {u: found[u] for u in units})
            self.tasks[name] = [text.disjoint_snippets(streams[u]) for u in units]
        self.fast = fast

    def model(self, classes, seed, pretrained=True):
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = classifier(
            self.record["backbone"], classes, DROPOUT, pooling(self.record)
        )
        if pretrained:
            set_weight_arrays(model, self.arrays, skip=("head",))
        return model

    def run(self, target, method, seed):
        """Test accuracy at the best validation rate, with its figures."""
        per_class = self.tasks[target]
        train, validation, test = split(per_class, seed, 20 if self.fast else TRAIN)
        epochs = 1 if self.fast else EPOCHS
        best = None
        rates = RATES.get(method, DEFAULT_RATES)
        for rate in rates[:1] if self.fast else rates:
            if method == "random_init_full":
                model = prepare(
                    self.model(len(per_class), seed, False), "full", "head", seed
                )
            else:
                model = prepare(self.model(len(per_class), seed), method, "head", seed)
            seconds, step_ms = compile_and_fit(model, train, rate, epochs, BATCH)
            score = model.evaluate(*validation, batch_size=256, verbose=0)[1]
            if best is None or score > best["validation"]:
                best = {
                    "validation": score,
                    "accuracy": model.evaluate(*test, batch_size=256, verbose=0)[1],
                    "learning_rate": rate,
                    "trainable": trainable_count(model),
                    "seconds": seconds,
                    "step_ms": step_ms,
                }
        return best


def summarise(runs):
    """The fixed form of the issue: per target, `random_init_full` and per
    method `trainable`, `accuracy` (per seed), `peak_mib`, `step_ms`."""
    targets = {}
    for name, target in runs["targets"].items():
        methods = {}
        for method in METHODS:
            results = target["runs"].get(method, [])
            if not results:
                continue
            methods[method] = {
                "trainable": results[0]["trainable"],
                "accuracy": [r["accuracy"] for r in results],
                "peak_mib": target.get("peak_mib", {}).get(method),
                "step_ms": float(np.median([r["step_ms"] for r in results])),
                "learning_rates": [r["learning_rate"] for r in results],
            }
        others = [m for m in methods if m == "bitfit" or m.startswith("lora")]
        targets[name] = {
            "train_size": target["train_size"],
            "classes": target["classes"],
            "random_init_full": [
                r["accuracy"] for r in target["runs"].get("random_init_full", [])
            ],
            "methods": methods,
            "calls": paired_calls(methods, [m for m in OURS if m in methods], others),
        }
    return targets


def load(path):
    if path.exists():
        return json.loads(path.read_text())["runs"]
    return {"targets": {}}


def write(path, runs, record):
    encoder = {
        "parameters": record["parameters"],
        "corpus": (
            f"Python {record['corpus']['python']} standard library source, "
            f"{record['corpus']['characters']:,} characters in "
            f"{record['corpus']['units']} units, sha256 "
            f"{record['corpus']['sha256'][:16]}"
        ),
        "objective": record["objective"],
        "pretraining_metric": record["pretraining_metric"],
    }
    results = {
        **machine_description(),
        "encoder": encoder,
        "targets": summarise(runs),
        "compress": runs.get("compress", {}),
        "settings": {
            "train": TRAIN,
            "validation": VALIDATION,
            "test": TEST,
            "epochs": EPOCHS,
            "batch": BATCH,
            "dropout": DROPOUT,
            "rates": {
                m: RATES.get(m, DEFAULT_RATES) for m in (*METHODS, "random_init_full")
            },
        },
        "runs": runs,
    }
    write_text_atomically(path, json.dumps(results, indent=1) + "\n")


def percent(accuracies):
    if not accuracies:
        return ""
    return f"{100 * np.mean(accuracies):.1f} ± {100 * np.std(accuracies):.1f}"


def report(targets):
    for name, target in targets.items():
        print(f"\n## {name} ({target['train_size']} per class)\n")
        rows = [["random init, full", "", percent(target["random_init_full"]), "", ""]]
        for method, m in target["methods"].items():
            rows.append(
                [
                    method,
                    f"{m['trainable']:,}",
                    percent(m["accuracy"]),
                    f"{m['step_ms']:.0f}",
                    "" if m["peak_mib"] is None else f"{m['peak_mib']:.0f}",
                ]
            )
        print(
            markdown_table(
                ["method", "trainable", "test accuracy (%)", "step ms", "peak MiB"],
                rows,
            )
        )
        print()
        print(markdown_table(["ours", "against", "points", "call"], target["calls"]))


def measure_memory(args):
    """Each method's peak resident memory for one run (seed 0), each in a
    process of its own."""
    out = pathlib.Path(args.out) / NAME
    runs = load(out)
    methods = FAST_METHODS if args.fast else METHODS
    for target in runs["targets"]:
        for method in (*methods, "random_init_full"):
            command = [
                sys.executable,
                __file__,
                "--one",
                target,
                method,
                "--asset",
                args.asset,
            ]
            if args.fast:
                command.append("--fast")
            line = subprocess.run(
                command, check=True, capture_output=True, text=True
            ).stdout.splitlines()[-1]
            peak = json.loads(line)["peak_mib"]
            runs["targets"][target].setdefault("peak_mib", {})[method] = peak
            print(target, method, f"{peak:.0f} MiB", flush=True)
    write(out, runs, load_record(args.asset))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--asset", default=str(ASSET))
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--fast", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--memory", action="store_true", help="peak memory per method")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        import resource

        Runner(args.asset, args.fast).run(*args.one, 0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"peak_mib": peak}))
        return
    if args.memory:
        measure_memory(args)
        return
    seeds = 1 if args.fast else args.seeds
    out = pathlib.Path(args.out) / NAME
    runner = Runner(args.asset, args.fast)
    runs = load(out)
    for target, per_class in runner.tasks.items():
        entry = runs["targets"].setdefault(
            target,
            {
                "train_size": 20 if args.fast else TRAIN,
                "classes": list(TARGETS[target][: len(per_class)]),
                "runs": {},
            },
        )
        for seed in range(seeds):
            for method in (
                "random_init_full",
                *(FAST_METHODS if args.fast else METHODS),
            ):
                done = entry["runs"].setdefault(method, [])
                if len(done) > seed:
                    continue
                result = runner.run(target, method, seed)
                done.append(result)
                print(
                    f"{target} seed {seed} {method}: {result['accuracy']:.3f} "
                    f"(rate {result['learning_rate']:g}, {result['seconds']:.0f} s)",
                    flush=True,
                )
                write(out, runs, runner.record)
    report(summarise(runs))


if __name__ == "__main__":
    main()
