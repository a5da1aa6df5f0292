"""Which kernel initializer should CZDense default to? Measured on digits.

Trains the CZDense models of the digits comparison (scripts/main.sh) with each
candidate initializer and prints the mean test accuracy over seeds.
Run: python -m benchmarks.quality.czdense_initializers [--epochs 60] [--seeds 5]
"""

import keras
import numpy as np

from benchmarks.harness import digits_models, fit_and_score, load_digits_split
from benchmarks.harness.results import command_line
from keras_crosswise.initializers import DiagonalVarianceScaling, IdentityDiagonal

CANDIDATES = {
    "IdentityDiagonal()": IdentityDiagonal,
    "DiagonalVarianceScaling(gain=2)": lambda: DiagonalVarianceScaling(gain=2.0),
    "DiagonalVarianceScaling(gain=1)": lambda: DiagonalVarianceScaling(gain=1.0),
    "glorot_uniform (Dense's default)": lambda: "glorot_uniform",
    "he_normal": lambda: "he_normal",
}


def arguments(parser):
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=5)


def run(args):
    """Test accuracy per initializer and CZDense model, mean and std over
    seeds (printed, not written: docs/benchmarks.md keeps the table)."""
    data = load_digits_split()
    models = [name for name in digits_models(64) if name.startswith("CZDense")]
    scores = {}
    for label, make in CANDIDATES.items():
        scores[label] = {}
        for name in models:
            found = []
            for seed in range(args.seeds):
                keras.utils.set_random_seed(seed)
                factories = digits_models(64, {"kernel_initializer": make()})
                accuracy, _ = fit_and_score(
                    factories[name](),
                    data,
                    seed=seed,
                    epochs=args.epochs,
                    batch_size=64,
                    learning_rate=1e-3,
                )
                found.append(accuracy)
            scores[label][name] = (float(np.mean(found)), float(np.std(found)))
        print(f"{label} done", flush=True)
    return {"epochs": args.epochs, "seeds": args.seeds, "scores": scores}


def report(results):
    print(
        f"backend {keras.backend.backend()}, {results['epochs']} epochs, "
        f"{results['seeds']} seeds"
    )
    models = list(next(iter(results["scores"].values())))
    print(f"{'initializer':34s}" + "".join(f"{m:>30s}" for m in models))
    for label, by_model in results["scores"].items():
        row = [f"{mean:.4f} ± {std:.4f}" for mean, std in by_model.values()]
        print(f"{label:34s}" + "".join(f"{cell:>30s}" for cell in row))


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report, outputs=False)
