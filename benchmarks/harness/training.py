"""The training recipe of the comparisons, and its loop over seeds."""

import math
import time

import keras


def fit_and_score(
    model,
    data,
    steps=6000,
    seed=0,
    batch_size=100,
    learning_rate=1e-2,
    epochs=None,
    loss=None,
    metric="accuracy",
):
    """Train `model` and return `(test metric, training seconds)`.

    By default a classifier that outputs logits, scored by accuracy, with the
    MNIST-1D reference recipe: Adam 1e-2, batch 100, 6000 steps (`epochs`
    overrides `steps`). `loss` and `metric` replace the loss (sparse
    categorical cross-entropy on logits) and the metric (e.g. `"mse"` twice
    for regression). `data` is `(x_train, x_test, y_train, y_test)`. On
    TensorFlow and JAX one compiled call runs a whole epoch.
    """
    x_train, x_test, y_train, y_test = data
    keras.utils.set_random_seed(seed)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[metric],
        steps_per_execution=1
        if keras.backend.backend() == "torch"
        else steps_per_epoch,
    )
    if epochs is None:
        epochs = max(1, round(steps / steps_per_epoch))
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    return model.evaluate(x_test, y_test, verbose=0)[1], seconds


def scores_over_seeds(make_model, data, seeds, **fit_kwargs):
    """Train a fresh `make_model()` per seed with `fit_and_score(**fit_kwargs)`;
    returns (accuracies, seconds, the last model)."""
    scores, seconds = [], []
    for seed in range(seeds):
        keras.utils.set_random_seed(seed)
        model = make_model()
        accuracy, elapsed = fit_and_score(model, data, seed=seed, **fit_kwargs)
        scores.append(accuracy)
        seconds.append(elapsed)
    return scores, seconds, model
