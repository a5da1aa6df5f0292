"""Dense vs CZDense vs Fastfood layers on scikit-learn's digits: parameters, accuracy.

Six models (keras_crosswise.experiments.digits_models) trained with Adam 1e-3,
batch 64, on 1347 digits, scored on 450 held-out ones.
Run: .venv/bin/python examples/digits_dense_vs_czdense.py [--epochs 60] [--seeds 3]
     [--fast]
The backend is Keras's default (TensorFlow) unless KERAS_BACKEND says otherwise.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras
import numpy as np

from keras_crosswise.experiments import (
    digits_models,
    load_digits_split,
    scores_over_seeds,
    trainable_count,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--fast", action="store_true", help="3 epochs, 1 seed: a smoke run"
    )
    args = parser.parse_args()
    if args.fast:
        args.epochs, args.seeds = 3, 1

    data = load_digits_split()
    print(
        f"backend: {keras.backend.backend()}, digits: {len(data[0])} train, "
        f"{len(data[1])} test, {args.epochs} epochs, {args.seeds} seed(s)"
    )
    if args.fast:
        print("(--fast: a smoke run; the accuracies below are not the README's)")
    print(
        f"{'model':34s} {'trainable':>9s} {'stored':>7s} {'test accuracy':>16s} "
        f"{'seconds':>8s}"
    )
    for name, make_model in digits_models(data[0].shape[1]).items():
        scores, seconds, model = scores_over_seeds(
            make_model,
            data,
            args.seeds,
            epochs=args.epochs,
            batch_size=64,
            learning_rate=1e-3,
        )
        spread = f"±{np.std(scores):.4f}" if args.seeds > 1 else " " * 7
        print(
            f"{name:34s} {trainable_count(model):9d} {model.count_params():7d} "
            f"{np.mean(scores):9.4f} {spread} {np.mean(seconds):8.1f}"
        )


if __name__ == "__main__":
    main()
