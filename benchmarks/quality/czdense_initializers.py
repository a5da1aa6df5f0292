"""Which kernel initializer should CZDense default to? Measured on digits.

Trains the CZDense models of the digits comparison (scripts/main.sh) with each
candidate initializer and prints the mean test accuracy over seeds.
Run: python -m benchmarks.quality.czdense_initializers [--epochs 60] [--seeds 5]
"""

import argparse

import keras
import numpy as np

from benchmarks.harness import digits_models, fit_and_score, load_digits_split
from keras_crosswise.initializers import DiagonalVarianceScaling, IdentityDiagonal

CANDIDATES = {
    "IdentityDiagonal()": IdentityDiagonal,
    "DiagonalVarianceScaling(gain=2)": lambda: DiagonalVarianceScaling(gain=2.0),
    "DiagonalVarianceScaling(gain=1)": lambda: DiagonalVarianceScaling(gain=1.0),
    "glorot_uniform (Dense's default)": lambda: "glorot_uniform",
    "he_normal": lambda: "he_normal",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    data = load_digits_split()
    models = [name for name in digits_models(64) if name.startswith("CZDense")]
    print(
        f"backend {keras.backend.backend()}, {args.epochs} epochs, {args.seeds} seeds"
    )
    print(f"{'initializer':34s}" + "".join(f"{m:>30s}" for m in models))
    for label, make in CANDIDATES.items():
        row = []
        for name in models:
            scores = []
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
                scores.append(accuracy)
            row.append(f"{np.mean(scores):.4f} ± {np.std(scores):.4f}")
        print(f"{label:34s}" + "".join(f"{cell:>30s}" for cell in row), flush=True)


if __name__ == "__main__":
    main()
