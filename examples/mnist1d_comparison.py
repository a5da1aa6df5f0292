"""MNIST-1D: the reference MLP against smaller models built from our layers.

MNIST-1D (Greydanus, 2020) is generated on this machine by the `mnist1d`
package: 4000 train and 1000 test sequences of 40 features, 10 classes; no
download. Every model is trained with the reference recipe (Adam 1e-2, batch
100, 6000 steps) and scored on the test set.
Run: python examples/mnist1d_comparison.py [--steps 6000] [--seeds 1]
The backend is Keras's default (TensorFlow) unless KERAS_BACKEND says otherwise.
"""

import argparse
import math
import time

import keras
import numpy as np

from keras_crosswise.layers import CZDense, FastfoodDense, McKernel

NUM_CLASSES = 10


def load_mnist1d():
    """(x_train, x_test, y_train, y_test) of MNIST-1D with its default arguments."""
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())
    return (
        data["x"].astype("float32"),
        data["x_test"].astype("float32"),
        data["y"],
        data["y_test"],
    )


def residual_mlp(
    input_dim, width=100, middle=keras.layers.Dense, blocks=1, first=keras.layers.Dense
):
    """The MNIST-1D reference MLP, `h = relu(W1 x); h = h + relu(W2 h); W3 h`,
    with `first` as W1 and `middle` (Dense, CZDense or FastfoodDense) as W2,
    the residual block repeated `blocks` times."""
    inputs = keras.Input((input_dim,))
    hidden = first(width, activation="relu")(inputs)
    for _ in range(blocks):
        residual = middle(width, activation="relu")(hidden)
        hidden = keras.layers.Add()([hidden, residual])
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES)(hidden))


def sequential(input_dim, *layers):
    return keras.Sequential([keras.Input((input_dim,)), *layers])


def model_factories(input_dim):
    """The compared models, by name, as functions of no argument."""
    return {
        "logistic regression": lambda: sequential(
            input_dim, keras.layers.Dense(NUM_CLASSES)
        ),
        "MLP 100-100 (reference)": lambda: residual_mlp(input_dim),
        "CZDense 400-400-10 (pure c&z)": lambda: sequential(
            input_dim,
            CZDense(400, activation="relu"),
            CZDense(400, activation="relu"),
            CZDense(NUM_CLASSES),
        ),
        "FastfoodDense 256-256-10": lambda: sequential(
            input_dim,
            FastfoodDense(256, activation="relu"),
            FastfoodDense(256, activation="relu"),
            FastfoodDense(NUM_CLASSES),
        ),
        "McKernel 1024 (fixed) + linear": lambda: sequential(
            input_dim,
            McKernel(1024, sigma=math.sqrt(input_dim)),
            keras.layers.Dense(NUM_CLASSES),
        ),
        "MLP 100-100, CZDense middle": lambda: residual_mlp(input_dim, 100, CZDense),
        "MLP 100-100, FastfoodDense middle": lambda: residual_mlp(
            input_dim, 100, FastfoodDense
        ),
    }


def trainable_count(model):
    """Learned parameters; `count_params()` also counts fixed random weights."""
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def train_and_score(model, data, steps=6000, seed=0, batch_size=100):
    """The reference recipe (Adam 1e-2, batch 100, `steps` steps); returns the
    test accuracy and the training seconds."""
    x_train, x_test, y_train, y_test = data
    keras.utils.set_random_seed(seed)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        # One compiled call per epoch where the backend supports it.
        steps_per_execution=1
        if keras.backend.backend() == "torch"
        else steps_per_epoch,
    )
    start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=max(1, round(steps / steps_per_epoch)),
        verbose=0,
    )
    seconds = time.perf_counter() - start
    return model.evaluate(x_test, y_test, verbose=0)[1], seconds


def scores_over_seeds(make_model, data, steps, seeds):
    """Train a fresh model per seed; returns (accuracies, seconds, last model)."""
    scores, seconds = [], []
    for seed in range(seeds):
        keras.utils.set_random_seed(seed)
        model = make_model()
        accuracy, elapsed = train_and_score(model, data, steps, seed)
        scores.append(accuracy)
        seconds.append(elapsed)
    return scores, seconds, model


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--fast", action="store_true", help="40 steps, to try it out")
    args = parser.parse_args()
    if args.fast:
        args.steps, args.seeds = 40, 1
    data = load_mnist1d()
    print(
        f"backend: {keras.backend.backend()}, MNIST-1D: {len(data[0])} train, "
        f"{len(data[1])} test, {args.steps} steps, {args.seeds} seed(s)"
    )
    print(f"{'model':36s} {'trainable':>9s} {'test accuracy':>16s} {'seconds':>8s}")
    for name, make_model in model_factories(data[0].shape[1]).items():
        scores, seconds, model = scores_over_seeds(
            make_model, data, args.steps, args.seeds
        )
        print(
            f"{name:36s} {trainable_count(model):9d} "
            f"{np.mean(scores):10.4f} ±{np.std(scores):.4f} {np.mean(seconds):8.1f}"
        )


if __name__ == "__main__":
    main()
