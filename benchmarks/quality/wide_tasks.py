"""Equal-budget comparisons on wide tasks, where our layers' case is strongest.

Three tasks whose hidden layers are 1024-4096 wide, so that a structured layer
costs O(n) parameters where a Dense one costs O(n^2):
- "friedman1, 1024 inputs": high-dimensional regression, scikit-learn's
  Friedman #1 with 5 informative and 1019 noise inputs (20,000 / 1,000);
- "friedman1, 10 inputs": a random-feature head (McKernel + a linear layer)
  against a Dense head, on the classic 10-input Friedman #1 (5,000 / 1,000);
- "MNIST-1D autoencoder": 40 -> 1024 -> 8 -> 1024 -> 40, MSE on the
  sequences (4,000 / 1,000).
Every model is trained with Adam 1e-3, batch 100, MSE, over `--seeds` seeds
and scored by R^2 on the test split (1 - MSE / variance, pooled over outputs).
At the trainable-parameter count of each model of ours, each baseline family
(the same net narrower; the same widths with every Dense kernel a rank-r pair,
`Dense(r) -> Dense(n)`) is trained at the largest size within that count and
at a half and a quarter of it (a narrower net can generalise better), and the
best of them is the family's front at that budget. Each model of ours is then
called a win, tie or loss against each front (means more than the larger std
apart, or not), with its training time (`fit`, compilation included) and its
inference time (`predict_on_batch` of the test split, medians, interleaved)
as ratios to the baseline's, measured in the same run.
Writes docs/benchmarks/wide_tasks_<backend>.json and .png.
Run: KERAS_BACKEND=jax python -m benchmarks.quality.wide_tasks [--seeds 5] [--quick]
"""

import dataclasses
import json
import math
import pathlib

import keras
import numpy as np

from benchmarks.harness import (
    load_friedman1,
    load_mnist1d,
    scores_over_seeds,
    trainable_count,
)
from benchmarks.harness.baselines import low_rank_pair, verdict, widest_size
from benchmarks.harness.results import command_line, markdown_table, write_json
from benchmarks.harness.timing import interleaved_medians
from keras_crosswise.initializers import DiagonalVarianceScaling
from keras_crosswise.layers import CZDense, FastfoodDense, McKernel

Dense = keras.layers.Dense
WIDE = 1024
CODE = 8  # the autoencoder's code size


@dataclasses.dataclass
class Task:
    """A data set, its training length, our models (name -> build()) and the
    baseline families (label with `{0}` for the size -> (build(size), the
    largest size))."""

    load: callable
    epochs: int
    ours: dict
    families: dict


def sequential(input_dim, *layers):
    return keras.Sequential([keras.Input((input_dim,)), *layers])


def learned_mckernel(input_dim, num_features):
    """McKernel with learned B, G, S and sigma: a learned kernel's features."""
    return McKernel(
        num_features,
        sigma=math.sqrt(input_dim),
        trainable_features=True,
        trainable_sigma=True,
    )


def regression_task(input_dim, num_train, epochs, ours, wide):
    """Friedman #1 with `input_dim` inputs; baselines: one hidden Dense layer
    of width w, and a rank-r pair into `wide` ReLU units, each + Dense(1)."""
    return Task(
        load=lambda quick: load_friedman1(input_dim, 500 if quick else num_train),
        epochs=epochs,
        ours=ours,
        families={
            "Dense {0} + Dense 1": (
                lambda w: sequential(input_dim, Dense(w, activation="relu"), Dense(1)),
                4 * wide,
            ),
            f"rank-{{0}} Dense {wide} + Dense 1": (
                lambda r: sequential(
                    input_dim, low_rank_pair(r, wide, "relu"), Dense(1)
                ),
                wide // 2,
            ),
        },
    )


def autoencoder(input_dim, layer):
    """`input_dim -> WIDE (ReLU) -> CODE -> WIDE (ReLU) -> input_dim`, each
    layer `layer(units, activation, inputs)`."""
    shape = [(input_dim, WIDE, "relu"), (WIDE, CODE, None)]
    shape += [(CODE, WIDE, "relu"), (WIDE, input_dim, None)]
    return sequential(input_dim, *(layer(o, a, i) for i, o, a in shape))


def cz_layer(units, activation, inputs):
    """CZDense with the variance-keeping initializer its docs recommend: gain 2
    before a ReLU, fan-in the number of inputs summed per output."""
    initializer = DiagonalVarianceScaling(
        gain=2.0 if activation else 1.0, fan_in=math.ceil(inputs / units), seed=None
    )
    return CZDense(units, activation=activation, kernel_initializer=initializer)


def tasks():
    mnist1d_dim = 40
    return {
        "friedman1, 1024 inputs": regression_task(
            1024,
            20_000,
            20,
            {
                "McKernel 1024 (learned) + Dense 1": lambda: sequential(
                    1024, learned_mckernel(1024, 1024), Dense(1)
                ),
                "FastfoodDense 1024 + Dense 1": lambda: sequential(
                    1024, FastfoodDense(1024, activation="relu"), Dense(1)
                ),
                "CZDense 1024 + Dense 1": lambda: sequential(
                    1024, CZDense(1024, activation="relu"), Dense(1)
                ),
                "CZDense 1024, rank 1 + Dense 1": lambda: sequential(
                    1024, CZDense(1024, activation="relu", rank=1), Dense(1)
                ),
            },
            WIDE,
        ),
        "friedman1, 10 inputs": regression_task(
            10,
            5_000,
            60,
            {
                "McKernel 4096 (fixed) + Dense 1": lambda: sequential(
                    10, McKernel(4096, sigma=math.sqrt(10)), Dense(1)
                ),
                "McKernel 1024 (learned) + Dense 1": lambda: sequential(
                    10, learned_mckernel(10, 1024), Dense(1)
                ),
            },
            4096,
        ),
        "MNIST-1D autoencoder": Task(
            load=mnist1d_autoencoder_data,
            epochs=30,
            ours={
                f"FastfoodDense AE {mnist1d_dim}-{WIDE}-{CODE}": lambda: autoencoder(
                    mnist1d_dim,
                    lambda units, activation, _: FastfoodDense(
                        units, activation=activation
                    ),
                ),
                f"CZDense AE {mnist1d_dim}-{WIDE}-{CODE}": lambda: autoencoder(
                    mnist1d_dim, cz_layer
                ),
            },
            families={
                f"Dense AE {mnist1d_dim}-{{0}}-{CODE}": (
                    lambda w: sequential(
                        mnist1d_dim,
                        Dense(w, activation="relu"),
                        Dense(CODE),
                        Dense(w, activation="relu"),
                        Dense(mnist1d_dim),
                    ),
                    WIDE,
                ),
                f"rank-{{0}} AE {mnist1d_dim}-{WIDE}-{CODE}": (
                    lambda r: autoencoder(
                        mnist1d_dim,
                        lambda units, activation, _: low_rank_pair(
                            r, units, activation
                        ),
                    ),
                    CODE,
                ),
            },
        ),
    }


def mnist1d_autoencoder_data(quick):
    x_train, x_test, _, _ = load_mnist1d()
    if quick:
        x_train = x_train[:500]
    return x_train, x_test, x_train, x_test


def train(make_model, data, seeds, epochs):
    """R^2 over seeds, mean training seconds, and the last trained model."""
    mses, seconds, model = scores_over_seeds(
        make_model,
        data,
        seeds,
        epochs=epochs,
        learning_rate=1e-3,
        loss="mse",
        metric="mse",
    )
    variance = float(np.mean(np.var(data[3], axis=0)))
    scores = [1 - mse / variance for mse in mses]
    result = {
        "trainable": trainable_count(model),
        "r2_mean": float(np.mean(scores)),
        "r2_std": float(np.std(scores)),
        "r2": [float(score) for score in scores],
        "train_seconds": float(np.mean(seconds)),
    }
    return result, model


def family_sizes(build, budget, largest):
    """The largest size within `budget`, and its half and quarter; [] if even
    size 1 is over."""
    widest = widest_size(build, budget, high=largest)
    return sorted({max(1, widest // k) for k in (1, 2, 4)}) if widest else []


def quick_task(task):
    """`--quick`: the first model of ours, each family at its widest size."""
    first = dict(list(task.ours.items())[:1])
    return dataclasses.replace(task, epochs=1, ours=first)


def run_task(name, task, args):
    data = task.load(args.quick)
    print(f"== {name}: {len(data[0])} train, {len(data[1])} test", flush=True)
    results, models, pairs = {}, {}, {}

    def measure(label, make_model, family):
        if label not in results:
            results[label], models[label] = train(
                make_model, data, args.seeds, task.epochs
            )
            results[label]["family"] = family
            r = results[label]
            print(
                f"  {label} ({r['trainable']:,d}): R^2 {r['r2_mean']:.3f}", flush=True
            )
        return results[label]

    for label, make_model in task.ours.items():
        budget = measure(label, make_model, label)["trainable"]
        pairs[label] = []
        for family, (build, largest) in task.families.items():
            sizes = family_sizes(build, budget, largest)[-1 if args.quick else 0 :]
            if not sizes:
                print(f"  {family.format('n')}: none within {budget:,d}", flush=True)
                continue
            tried = [family.format(size) for size in sizes]
            for size, baseline in zip(sizes, tried, strict=True):
                measure(baseline, lambda b=build, s=size: b(s), family.format("n"))
            pairs[label].append(max(tried, key=lambda n: results[n]["r2_mean"]))
    x_test = data[1]
    inference = interleaved_medians(
        {label: lambda m=m: m.predict_on_batch(x_test) for label, m in models.items()},
        repeats=3 if args.quick else 15,
    )
    for label, seconds in inference.items():
        results[label]["inference_ms"] = 1000 * seconds
    return results, pairs


def ratio_rows(results, pairs):
    """Time of each model of ours over its front baselines' (train, infer)."""
    rows = []
    for label, baselines in pairs.items():
        ours = results[label]
        for baseline in baselines:
            other = results[baseline]
            rows.append(
                [
                    label,
                    baseline,
                    f"{ours['train_seconds'] / other['train_seconds']:.2f}",
                    f"{ours['inference_ms'] / other['inference_ms']:.2f}",
                ]
            )
    return rows


def plot(all_results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        1, len(all_results), figsize=(6 * len(all_results), 5.5)
    )
    for axis, (task, results) in zip(
        np.atleast_1d(axes), all_results.items(), strict=True
    ):
        families = {}
        for r in results.values():
            families.setdefault(r["family"], []).append(r)
        for index, (family, points) in enumerate(families.items()):
            points.sort(key=lambda r: r["trainable"])
            ours = family in results  # a family of one: a model of ours
            axis.errorbar(
                [r["trainable"] for r in points],
                [r["r2_mean"] for r in points],
                yerr=[r["r2_std"] for r in points],
                fmt="o" if ours else "s--",
                markersize=8 if ours else 5,
                color=f"C{index % 10}",
                label=family,
            )
        axis.set(
            xscale="log",
            xlabel="trainable parameters",
            ylabel="test R^2 (mean ± std over seeds)",
            title=task,
        )
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def arguments(parser):
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--tasks",
        nargs="*",
        help="task names (default: all); the others stay as the JSON has them",
    )


def run(args):
    if args.quick:
        args.seeds = 1
    known = tasks()
    unknown = sorted(set(args.tasks or ()) - set(known))
    if unknown:
        raise SystemExit(f"--tasks: unknown task(s) {unknown}; known: {sorted(known)}")
    chosen = {k: v for k, v in known.items() if not args.tasks or k in args.tasks}
    all_results, verdicts, timings = {}, {}, {}
    for name, task in chosen.items():
        results, pairs = run_task(name, quick_task(task) if args.quick else task, args)
        all_results[name] = results
        verdicts[name] = verdict(results, results, pairs, metric="r2")
        timings[name] = ratio_rows(results, pairs)
    out = pathlib.Path(args.out)
    stem = f"wide_tasks_{keras.backend.backend()}"
    saved = {"verdicts": verdicts, "time_ratios": timings, "tasks": all_results}
    if args.tasks and (out / f"{stem}.json").exists():
        # Re-measured tasks replace theirs; the file keeps the others.
        earlier = json.loads((out / f"{stem}.json").read_text())
        saved = {key: {**earlier[key], **value} for key, value in saved.items()}
    results = {"seeds": args.seeds, **saved}
    write_json(out / f"{stem}.json", results)
    plot(saved["tasks"], out / f"{stem}.png")
    print(f"wrote {out / stem}.json and .png")
    return {**results, "measured": list(chosen)}


def report(results):
    for name in results["measured"]:
        print(f"\n{name}: ours against the best of each family within its budget")
        header = ["model", "params", "baseline", "params", "R^2 points", "call"]
        print(markdown_table(header, results["verdicts"][name]))
        header = ["model", "baseline", "train x", "infer x"]
        print(markdown_table(header, results["time_ratios"][name]))
        rows = [
            [
                label,
                f"{r['trainable']:,d}",
                f"{r['r2_mean']:.3f} ± {r['r2_std']:.3f}",
                f"{r['train_seconds']:.1f}",
                f"{r['inference_ms']:.2f}",
            ]
            for label, r in sorted(
                results["tasks"][name].items(), key=lambda item: item[1]["trainable"]
            )
        ]
        header = ["model", "trainable", "test R^2", "train s", "infer ms"]
        print(markdown_table(header, rows))


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
