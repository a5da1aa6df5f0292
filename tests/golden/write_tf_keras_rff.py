"""Write the tf-keras golden files of RandomFourierFeatures (on purpose only).

Saves, with tf-keras 2 (the `tf-keras` package, the Keras that Keras 3
replaced), small models holding `tf.keras.layers.experimental.
RandomFourierFeatures` as legacy `.h5` files, with inputs and tf-keras's own
outputs, for tests/test_random_fourier_features.py to reload in Keras 3 on
every backend. Needs `pip install --no-deps tf-keras==<tensorflow's version>`.
Run: .venv/bin/python tests/golden/write_tf_keras_rff.py
"""

import pathlib

import numpy as np
import tf_keras

FOLDER = pathlib.Path(__file__).resolve().parent
INPUT_DIM = 10

MODELS = {
    # name: RandomFourierFeatures arguments
    "tf_keras_rff_gaussian": {"output_dim": 32, "kernel_initializer": "gaussian"},
    "tf_keras_rff_laplacian_trained": {
        "output_dim": 24,
        "kernel_initializer": "laplacian",
        "scale": 3.0,
        "trainable": True,
    },
}


def main():
    tf_keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, INPUT_DIM)).astype("float32")
    for name, arguments in MODELS.items():
        model = tf_keras.Sequential(
            [
                tf_keras.Input((INPUT_DIM,)),
                tf_keras.layers.experimental.RandomFourierFeatures(**arguments),
                tf_keras.layers.Dense(3),
            ]
        )
        model.compile(tf_keras.optimizers.SGD(0.1), "mse")
        train_x = rng.standard_normal((32, INPUT_DIM)).astype("float32")
        model.fit(train_x, rng.standard_normal((32, 3)), epochs=2, verbose=0)
        model.save(FOLDER / f"{name}.h5")
        np.savez(FOLDER / f"{name}.npz", inputs=x, outputs=model.predict(x, verbose=0))
        print(name, "kernel_scale", model.layers[0].kernel_scale.numpy())


if __name__ == "__main__":
    main()
