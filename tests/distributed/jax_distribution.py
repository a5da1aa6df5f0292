"""Data and model parallelism with keras.distribution on 8 virtual CPU devices (JAX).

Run by tests/test_distribution.py in a fresh process (the device count is fixed
when JAX starts):

    XLA_FLAGS=--xla_force_host_platform_device_count=8 KERAS_BACKEND=jax \
        python tests/distributed/jax_distribution.py OUT.json
"""

import json
import sys
import tempfile

import keras
import numpy as np

from keras_crosswise.layers import CZDense, FastfoodDense

STEPS, BATCH = 4, 32


def build_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((16,)),
            FastfoodDense(32, activation="relu", name="fastfood"),
            CZDense(32, activation="relu", name="cz"),
            keras.layers.Dense(8, name="head"),
        ]
    )


def train(distribution):
    keras.distribution.set_distribution(distribution)
    try:
        model = build_model()
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        rng = np.random.default_rng(1)
        x = rng.standard_normal((STEPS * BATCH, 16)).astype("float32")
        y = rng.standard_normal((STEPS * BATCH, 8)).astype("float32")
        history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        weights = [keras.ops.convert_to_numpy(w) for w in model.weights]
        return model, history.history["loss"], weights, x
    finally:
        keras.distribution.set_distribution(None)


def layout_map(mesh):
    """Shard the diagonals and biases of both layers over the "model" axis.

    Keys are regular expressions that must match a variable's whole path,
    e.g. "sequential/cz/kernel".
    """
    layouts = keras.distribution.LayoutMap(mesh)
    layouts[".*/cz/(kernel|bias)"] = ("model",)
    layouts[".*/fastfood/(signs|gaussian)"] = (None, "model")
    layouts[".*/fastfood/(scale|bias)"] = ("model",)
    return layouts


def main(out_path):
    devices = keras.distribution.list_devices("cpu")
    assert len(devices) == 8, devices
    _, single_loss, single_weights, x = train(None)
    report = {"devices": len(devices), "single_loss": single_loss}

    data_parallel = keras.distribution.DataParallel(devices=devices)
    _, loss, weights, _ = train(data_parallel)
    report["data_parallel_loss"] = loss
    report["data_parallel_max_weight_diff"] = max(
        float(np.abs(a - b).max()) for a, b in zip(weights, single_weights, strict=True)
    )

    mesh = keras.distribution.DeviceMesh((2, 4), ("batch", "model"), devices)
    model_parallel = keras.distribution.ModelParallel(
        layout_map=layout_map(mesh), batch_dim_name="batch"
    )
    model, loss, weights, x = train(model_parallel)
    report["model_parallel_loss"] = loss
    report["model_parallel_max_weight_diff"] = max(
        float(np.abs(a - b).max()) for a, b in zip(weights, single_weights, strict=True)
    )
    report["shardings"] = {
        weight.path: str(weight.value.sharding.spec) for weight in model.weights
    }

    # A model trained sharded saves and reloads on one device.
    path = tempfile.mkdtemp() + "/sharded.keras"
    model.save(path)
    predictions = keras.ops.convert_to_numpy(model(x[:8]))
    reloaded = keras.models.load_model(path)
    report["reload_max_diff"] = float(
        np.abs(keras.ops.convert_to_numpy(reloaded(x[:8])) - predictions).max()
    )
    with open(out_path, "w") as handle:
        json.dump(report, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
