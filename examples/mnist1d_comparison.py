"""MNIST-1D: the reference MLP against smaller models built from our layers.

MNIST-1D (Greydanus, 2020) is generated on this machine by the `mnist1d`
package: 4000 train and 1000 test sequences of 40 features, 10 classes; no
download. Every model (keras_crosswise.experiments.mnist1d_models) is trained
with the reference recipe (Adam 1e-2, batch 100, 6000 steps) and scored on
the test set.
Run: .venv/bin/python examples/mnist1d_comparison.py [--steps 6000] [--seeds 1]
     [--fast]
The backend is Keras's default (TensorFlow) unless KERAS_BACKEND says otherwise.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras
import numpy as np

from keras_crosswise.experiments import (
    load_mnist1d,
    mnist1d_models,
    scores_over_seeds,
    trainable_count,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument(
        "--fast", action="store_true", help="400 steps, 1 seed: a smoke run"
    )
    args = parser.parse_args()
    if args.fast:
        args.steps, args.seeds = 400, 1
    if keras.backend.backend() == "tensorflow":
        # Each of the seven models traces its own functions once; TensorFlow
        # would warn about "retracing" for every model after the fifth.
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    data = load_mnist1d()
    print(
        f"backend: {keras.backend.backend()}, MNIST-1D: {len(data[0])} train, "
        f"{len(data[1])} test, {args.steps} steps, {args.seeds} seed(s)"
    )
    if args.fast:
        print("(--fast: a smoke run, 1/15 of the reference steps)")
    print(f"{'model':36s} {'trainable':>9s} {'test accuracy':>16s} {'seconds':>8s}")
    for name, make_model in mnist1d_models(data[0].shape[1]).items():
        scores, seconds, model = scores_over_seeds(
            make_model, data, args.seeds, steps=args.steps
        )
        spread = f"±{np.std(scores):.4f}" if args.seeds > 1 else " " * 7
        print(
            f"{name:36s} {trainable_count(model):9d} "
            f"{np.mean(scores):9.4f} {spread} {np.mean(seconds):8.1f}"
        )


if __name__ == "__main__":
    main()
