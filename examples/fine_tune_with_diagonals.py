"""Fine-tune a trained model with diagonal adapters, against Keras's LoRA.

1. pretrains an MLP 64-256-256 on scikit-learn's digits 0-4;
2. fine-tunes it, with a new head, on the digits 5-9 from 20 images per class:
   `keras_crosswise.adapters.adapt(model, kind="cz_bias")` (a learned vector
   c on each hidden layer's output, and its bias) against the head alone
   and Keras's own `enable_lora(1)`, every other weight frozen;
3. merges the adapters into plain Dense layers (same outputs), and saves the
   adapters alone to a small file that `load_adapters` puts back on the base.

Run: .venv/bin/python examples/fine_tune_with_diagonals.py [--epochs 40] [--fast]
"""

import argparse
import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras
import numpy as np
from sklearn.datasets import load_digits

from keras_crosswise import adapters


def compile_and_fit(model, x, y, epochs, learning_rate):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return model


def only_trainable(model, weights):
    """Freeze every weight of `model` but `weights`."""
    for weight in model.weights:
        weight.trainable = any(weight is w for w in weights)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--fast", action="store_true", help="few epochs: a smoke run")
    args = parser.parse_args()
    epochs = 3 if args.fast else args.epochs
    keras.utils.set_random_seed(0)
    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype("float32")
    source, target = y < 5, y >= 5
    rng = np.random.default_rng(0)
    picks = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), 20, False) for c in range(5, 10)]
    )
    test = target & ~np.isin(np.arange(len(y)), picks)

    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(256, activation="relu", name="hidden1")(inputs)
    hidden = keras.layers.Dense(256, activation="relu", name="hidden2")(hidden)
    pretrained = keras.Model(inputs, keras.layers.Dense(5, name="head")(hidden))
    compile_and_fit(pretrained, x[source], y[source], epochs, 1e-3)
    # The body with a new head for the new classes (its layers are shared
    # with `pretrained`; `clone` copies them, and `adapt` works in place).
    base = keras.Model(inputs, keras.layers.Dense(5, name="head")(hidden))
    x_train, y_train = x[picks], y[picks] - 5
    x_test, y_test = x[test], y[test] - 5

    def clone():
        copy = keras.models.clone_model(base)
        copy.set_weights(base.get_weights())
        return copy

    head_only = clone()
    only_trainable(head_only, head_only.get_layer("head").weights)
    lora = clone()
    lora_weights = list(lora.get_layer("head").weights)
    for name in ("hidden1", "hidden2"):
        lora.get_layer(name).enable_lora(1)
        lora_weights += [lora.get_layer(name).lora_kernel_a]
        lora_weights += [lora.get_layer(name).lora_kernel_b]
    only_trainable(lora, lora_weights)
    adapted = adapters.adapt(  # in place, no weight copied; only these train
        clone(), kind="cz_bias", layers=["hidden1", "hidden2"], train=["head"]
    )
    print(f"backend: {keras.backend.backend()}; digits 5-9, 20 images per class")
    for name, model in (
        ("head only", head_only),
        ("Keras LoRA r=1 (biases frozen)", lora),
        ("cz_bias adapters", adapted),
    ):
        compile_and_fit(model, x_train, y_train, epochs, 1e-2)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
        print(f"{name:32s} {trainable:6,d} trainable, test accuracy {accuracy:.3f}")

    folder = pathlib.Path(tempfile.mkdtemp())
    adapters.save_adapters(adapted, folder / "adapters.npz")
    adapted.save(folder / "adapted.keras")
    tuned = adapted.predict(x_test, verbose=0)
    again = adapters.load_adapters(clone(), folder / "adapters.npz")
    difference = np.abs(again.predict(x_test, verbose=0) - tuned)
    print(
        f"adapters alone: {(folder / 'adapters.npz').stat().st_size:,} bytes (the "
        f"adapted model: {(folder / 'adapted.keras').stat().st_size:,}); "
        f"reapplied to the base: max |difference| {difference.max():.2e}"
    )
    merged = adapters.merge(adapted)  # in place: plain Dense layers again
    difference = np.abs(merged.predict(x_test, verbose=0) - tuned)
    print(f"merged into plain Dense layers: max |difference| {difference.max():.2e}")


if __name__ == "__main__":
    main()
