"""tf.distribute.MirroredStrategy over 2 logical CPU devices (TensorFlow backend).

Run by tests/test_distribution.py in a fresh process (logical devices must be
configured before TensorFlow starts):

    KERAS_BACKEND=tensorflow python tests/distributed/tf_mirrored.py OUT.json
"""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_crosswise.layers import CZDense, FastfoodDense  # noqa: E402

STEPS, BATCH = 4, 32


def train(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((16,)),
                FastfoodDense(32, activation="relu"),
                CZDense(32, activation="relu"),
                keras.layers.Dense(8),
            ]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((STEPS * BATCH, 16)).astype("float32")
    y = rng.standard_normal((STEPS * BATCH, 8)).astype("float32")
    history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    return history.history["loss"], [w.numpy() for w in model.weights]


def main(out_path):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    single_loss, single_weights = train(tf.distribute.get_strategy())
    mirrored = tf.distribute.MirroredStrategy(devices)
    loss, weights = train(mirrored)
    report = {
        "replicas": mirrored.num_replicas_in_sync,
        "single_loss": single_loss,
        "mirrored_loss": loss,
        "max_weight_diff": max(
            float(np.abs(a - b).max())
            for a, b in zip(weights, single_weights, strict=True)
        ),
    }
    with open(out_path, "w") as handle:
        json.dump(report, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
