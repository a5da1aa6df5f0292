"""Parameters, test accuracy and training time on MNIST-1D and digits.

Every model of the MNIST-1D comparison (harness), trained
with the MNIST-1D reference recipe (Adam 1e-2, batch 100, 6000 steps) over
`--seeds` seeds, on MNIST-1D (4000 / 1000, 40 features) and scikit-learn's
digits (1347 / 450, 64 features, standardised). Then:
- the paper's reference experiment (its published `c_and_z.py`): two random,
  untrained c&z expansions (x2 features each, SELU) and a random diagonal,
  then a random forest of 100 trees, against the same forest on raw inputs;
- on MNIST-1D, a search for the smallest model of ours that matches the
  reference MLP: residual MLPs whose W2 blocks are FastfoodDense, by width,
  number of blocks, and W1 (Dense, or FastfoodDense too). "Matches" means a
  mean test accuracy of at least the MLP's mean minus one MLP standard
  deviation.
- at the parameter count of every trained model of ours, the two alternatives
  a user would pick (`harness.baselines`): the reference MLP
  at the widest width within that count, and the reference MLP with a
  rank-r middle `Dense(r) -> Dense(100)` at the largest rank within it; each of
  ours is then called a win, tie or loss against each (means more than the
  larger standard deviation apart, or not).
Writes docs/benchmarks/accuracy.json and accuracy.png.
Run: KERAS_BACKEND=jax python -m benchmarks.quality.accuracy [--seeds 5] [--quick]
"""

import pathlib
import time

import keras
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from benchmarks.harness import (
    load_digits_split,
    load_mnist1d,
    mnist1d_models,
    residual_mlp,
    scores_over_seeds,
    trainable_count,
)
from benchmarks.harness.baselines import (
    low_rank_middle,
    verdict,
    widest_size,
)
from benchmarks.harness.results import command_line, markdown_table, write_json
from keras_crosswise.layers import FastfoodDense
from keras_crosswise.ops import cz, cz_expand

REFERENCE = "MLP 100-100 (reference)"
# (W1, width, residual FastfoodDense blocks), roughly smallest first.
SEARCH = [
    *((keras.layers.Dense, width, blocks) for width in (128, 256) for blocks in (1, 2)),
    *((FastfoodDense, width, 2) for width in (512, 1024)),
]


def random_cz_features(x_train, x_test, seed, expansions=2):
    """The paper's untrained features: `expansions` times `selu(cz_expand(x, K)
    + b)` with K of shape (2, n), then `selu(cz(k, x) + b)`; K, k, b ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    width = x_train.shape[1]
    draws = []
    for _ in range(expansions):
        draws.append((rng.standard_normal((2, width)), rng.standard_normal(2 * width)))
        width *= 2
    diagonal, bias = rng.standard_normal((2, width))

    def transform(x):
        for kernels, offset in draws:
            x = keras.activations.selu(cz_expand(x, kernels.astype("float32")) + offset)
        x = keras.activations.selu(cz(diagonal.astype("float32"), x) + bias)
        return keras.ops.convert_to_numpy(x)

    random_weights = sum(k.size + b.size for k, b in draws) + 2 * width
    return transform(x_train), transform(x_test), random_weights


def forest_scores(data, seeds, trees, features=None):
    """Random-forest test accuracies and fit seconds, on raw or c&z features."""
    scores, seconds, random_weights = [], [], 0
    for seed in range(seeds):
        x_train, x_test, y_train, y_test = data
        if features is not None:
            x_train, x_test, random_weights = features(x_train, x_test, seed)
        forest = RandomForestClassifier(
            n_estimators=trees, n_jobs=-1, random_state=seed
        )
        start = time.perf_counter()
        forest.fit(x_train, y_train)
        seconds.append(time.perf_counter() - start)
        scores.append(forest.score(x_test, y_test))
    return {
        "trainable": 0,
        "random_weights": random_weights,
        **summary(scores, seconds),
    }


def summary(scores, seconds):
    return {
        "accuracy_mean": float(np.mean(scores)),
        "accuracy_std": float(np.std(scores)),
        "accuracies": [float(s) for s in scores],
        "seconds_mean": float(np.mean(seconds)),
    }


def keras_scores(make_model, data, seeds, steps):
    scores, seconds, model = scores_over_seeds(make_model, data, seeds, steps=steps)
    return {"trainable": trainable_count(model), **summary(scores, seconds)}


def search_smallest(data, seeds, steps, reference, candidates):
    """Residual MLPs with FastfoodDense blocks; returns all results and the
    name of the smallest that matches `reference` (None if none does)."""
    results = {}
    for first, width, blocks in candidates:
        name = f"{first.__name__} {width}, {blocks} FastfoodDense block(s)"
        results[name] = keras_scores(
            lambda f=first, w=width, b=blocks: residual_mlp(
                data[0].shape[1], w, FastfoodDense, b, first=f
            ),
            data,
            seeds,
            steps,
        )
        print(f"  {name}: {results[name]['accuracy_mean']:.4f}", flush=True)
    bar = reference["accuracy_mean"] - reference["accuracy_std"]
    matching = [name for name, r in results.items() if r["accuracy_mean"] >= bar]
    smallest = min(matching, key=lambda n: results[n]["trainable"], default=None)
    return results, smallest


def best_smaller_than(models, reference):
    """The most accurate trained model of ours with fewer parameters than
    `reference` (the baselines and the forests excluded)."""
    size = models[reference]["trainable"]
    ours = {
        name: r
        for name, r in models.items()
        if name not in ("logistic regression", reference) and 0 < r["trainable"] < size
    }
    return max(ours, key=lambda name: ours[name]["accuracy_mean"], default=None)


def equal_budget_baselines(models, data, args):
    """At the parameter count of each trained model of ours, the two
    alternatives a user would pick: the reference MLP at another width w and
    the reference MLP with a rank-r middle (`Dense(r) -> Dense(100)`), each the
    largest within the budget. Returns name -> result (with the models of ours
    it serves as baseline) and, per model of ours, its baselines' names."""
    input_dim = data[0].shape[1]
    # label -> (build(size), largest size): an MLP of width w (narrower, or
    # wider above the reference's budget) and the reference with a rank-r middle.
    families = {
        "Dense MLP {0}-{0}": (lambda w: residual_mlp(input_dim, w), 1024),
        "MLP 100-100, rank-{0} middle": (
            lambda r: residual_mlp(input_dim, 100, low_rank_middle(r)),
            100,
        ),
    }
    ours = {
        name: r
        for name, r in models.items()
        if name not in ("logistic regression", REFERENCE) and r["trainable"] > 0
    }
    results, pairs = {}, {}
    for name, r in ours.items():
        pairs[name] = []
        for label, (build, largest) in families.items():
            size = widest_size(build, r["trainable"], high=largest)
            if size == 0:
                continue  # even width (rank) 1 is over the budget
            baseline = label.format(size)
            if baseline not in results:
                results[baseline] = keras_scores(
                    lambda b=build, n=size: b(n), data, args.seeds, args.steps
                )
                results[baseline]["budgets"] = []
                accuracy = results[baseline]["accuracy_mean"]
                print(f"  {baseline}: {accuracy:.4f}", flush=True)
            results[baseline]["budgets"].append(name)
            pairs[name].append(baseline)
    return results, pairs


def run_dataset(name, data, args):
    print(f"== {name}: {len(data[0])} train, {len(data[1])} test", flush=True)
    results = {}
    factories = mnist1d_models(data[0].shape[1])
    if args.quick:
        factories = {key: factories[key] for key in list(factories)[:2]}
    for model_name, make_model in factories.items():
        results[model_name] = keras_scores(make_model, data, args.seeds, args.steps)
        print(f"  {model_name}: {results[model_name]['accuracy_mean']:.4f}", flush=True)
    results["random forest, raw inputs"] = forest_scores(data, args.seeds, args.trees)
    results["random forest, 2 random c&z expansions (paper)"] = forest_scores(
        data, args.seeds, args.trees, random_cz_features
    )
    return results


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 7.5))
    markers = "osD^v<>pPX*h"
    for axis, (dataset, models) in zip(
        np.atleast_1d(axes), results.items(), strict=True
    ):
        for index, (name, r) in enumerate(models.items()):
            if r["trainable"] == 0:  # forests: no trained weights, a level line
                axis.axhline(
                    r["accuracy_mean"], ls=":", color=f"C{index % 10}", label=name
                )
                continue
            axis.errorbar(
                r["trainable"],
                r["accuracy_mean"],
                yerr=r["accuracy_std"],
                fmt=markers[index % len(markers)],
                color=f"C{index % 10}",
                label=name,
            )
        axis.set(
            xscale="log",
            xlabel="trainable parameters",
            ylabel="test accuracy (mean ± std over seeds)",
            title=dataset,
        )
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def trainable_cell(result):
    if result["trainable"]:
        return f"{result['trainable']:,d}"
    if result["random_weights"]:
        return f"forest + {result['random_weights']:,d} random"
    return "forest"


def models_table(results):
    rows = [
        [
            dataset,
            name,
            trainable_cell(r),
            f"{r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f}",
            f"{r['seconds_mean']:.1f}",
        ]
        for dataset, models in results.items()
        for name, r in models.items()
    ]
    header = ["dataset", "model", "trainable params", "test accuracy", "train s"]
    return markdown_table(header, rows)


def arguments(parser):
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--trees", type=int, default=100)


DATASETS = ("MNIST-1D", "digits")


def run(args):
    search = SEARCH
    if args.quick:
        args.seeds, args.steps, args.trees, search = 1, 20, 5, SEARCH[:1]
    mnist1d = load_mnist1d()
    results = {"MNIST-1D": run_dataset("MNIST-1D", mnist1d, args)}
    found, smallest = search_smallest(
        mnist1d, args.seeds, args.steps, results["MNIST-1D"][REFERENCE], search
    )
    results["MNIST-1D"].update(found)
    digits = load_digits_split()
    results["digits"] = run_dataset("digits", digits, args)
    best = best_smaller_than(results["MNIST-1D"], REFERENCE)
    verdicts = {}
    for dataset, data in zip(DATASETS, (mnist1d, digits), strict=True):
        print(f"== {dataset}: equal-budget baselines", flush=True)
        baselines, pairs = equal_budget_baselines(results[dataset], data, args)
        results[dataset].update(baselines)
        verdicts[dataset] = verdict(results[dataset], baselines, pairs)
    out = pathlib.Path(args.out)
    saved = {
        "seeds": args.seeds,
        "steps": args.steps,
        "smallest_match": smallest,
        "best_smaller_than_reference": best,
        "equal_budget_verdicts": verdicts,
        **results,
    }
    write_json(out / "accuracy.json", saved)
    plot(results, out / "accuracy.png")
    print(f"wrote {out / 'accuracy.json'} and {out / 'accuracy.png'}")
    return saved


def report(results):
    print(models_table({dataset: results[dataset] for dataset in DATASETS}))
    header = ["model", "params", "baseline", "params", "points", "call"]
    for dataset, rows in results["equal_budget_verdicts"].items():
        print(f"\n{dataset}: ours against equal-budget baselines (call: > one std)")
        print(markdown_table(header, rows))
    smallest = results["smallest_match"]
    print(f"\nsmallest FastfoodDense model matching the MLP on MNIST-1D: {smallest}")
    best = results["best_smaller_than_reference"]
    print(f"most accurate of our models smaller than the MLP: {best}")


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
