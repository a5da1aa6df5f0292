"""One small trained model per layer of the package, for saving and export tests.

A new layer joins every save/load, golden-file and export test by one entry in
LAYERS. Run as a script to write the zoo under the current KERAS_BACKEND:

    python tests/model_zoo.py save DIR      # used by the cross-backend tests
                                            # (also writes DIR/seeded.npz)
    python tests/model_zoo.py golden NAME   # write tests/golden/NAME.* for a new
                                            # entry (never rewrite existing ones)
"""

import pathlib
import sys

import keras
import numpy as np

from keras_crosswise.adapters import DiagonalAdapter
from keras_crosswise.initializers import DiagonalVarianceScaling
from keras_crosswise.layers import (
    CZDense,
    FastfoodDense,
    McKernel,
    RandomFourierFeatures,
)

INPUT_DIM = 10
GOLDEN_DIR = pathlib.Path(__file__).resolve().parent / "golden"


def adapted_dense(kind, seed):
    """A DiagonalAdapter on a seeded, built Dense (a fine-tuned layer)."""
    dense = keras.layers.Dense(
        16,
        activation="relu",
        kernel_initializer=keras.initializers.GlorotUniform(seed),
        bias_initializer=keras.initializers.RandomNormal(seed=seed + 1),
    )
    dense.build((None, INPUT_DIM))
    return DiagonalAdapter(dense, kind=kind, seed=seed)


LAYERS = {
    "CZDense": lambda: CZDense(
        24, activation="relu", kernel_initializer=DiagonalVarianceScaling(2.0, seed=1)
    ),
    "CZDenseNarrow": lambda: CZDense(
        4, kernel_initializer=DiagonalVarianceScaling(1.0, seed=2)
    ),
    "CZDenseLowRank": lambda: CZDense(
        16,
        activation="relu",
        kernel_initializer=DiagonalVarianceScaling(2.0, seed=8),
        rank=2,
        low_rank_initializer=keras.initializers.GlorotUniform(seed=9),
    ),
    "FastfoodDense": lambda: FastfoodDense(20, activation="relu", seed=3),
    "McKernel": lambda: McKernel(12, sigma=2.0, trainable_features=True, seed=4),
    "McKernelMatern": lambda: McKernel(
        8, kernel="matern", matern_t=3, sigma=2.0, trainable_sigma=True, seed=5
    ),
    "McKernelOrthogonal": lambda: McKernel(
        12, structure="orthogonal", sigma=2.0, trainable_features=True, seed=6
    ),
    "RandomFourierFeatures": lambda: RandomFourierFeatures(
        16, kernel_initializer="laplacian", scale=2.0, trainable=True, seed=7
    ),
    "DiagonalAdapter": lambda: adapted_dense("cz_bias", 10),
    "DiagonalAdapterFastfood": lambda: adapted_dense("fastfood", 12),
}

# Largest |difference| allowed between predictions of one saved model, before and
# after a reload, on any pair of backends (float32). CZDense is exact up to the
# head's matmul; the Fastfood layers sum n terms twice in backend-specific orders.
TOLERANCE = {
    "CZDense": 1e-6,
    "CZDenseNarrow": 1e-6,
    "CZDenseLowRank": 1e-5,
    "FastfoodDense": 1e-5,
    "McKernel": 1e-5,
    "McKernelMatern": 1e-5,
    "McKernelOrthogonal": 1e-5,
    "RandomFourierFeatures": 1e-5,
    "DiagonalAdapter": 1e-6,
    "DiagonalAdapterFastfood": 1e-5,
}


def build_model(name):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((INPUT_DIM,)),
            LAYERS[name](),
            keras.layers.Dense(
                3, kernel_initializer=keras.initializers.GlorotUniform(7)
            ),
        ],
        name=f"zoo_{name}",
    )


def build_every_layer_model():
    """One model holding every zoo layer side by side, for the export matrix."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((INPUT_DIM,))
    branches = [LAYERS[name]()(inputs) for name in LAYERS]
    head = keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(7))
    return keras.Model(inputs, head(keras.layers.Concatenate()(branches)), name="zoo")


def sample_inputs(count=6, seed=0):
    return (
        np.random.default_rng(seed)
        .standard_normal((count, INPUT_DIM))
        .astype("float32")
    )


def train(model, steps=3):
    """A few SGD steps so the saved weights are not the initial ones."""
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x = sample_inputs(32, seed=1)
    y = np.random.default_rng(2).standard_normal((32, 3)).astype("float32")
    model.fit(x, y, batch_size=32 // steps, epochs=1, verbose=0)
    return model


def save_zoo(directory, names=None):
    """Save every zoo model (or those in `names`) as NAME.keras plus NAME.npz
    (inputs, predictions)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    x = sample_inputs()
    for name in names or LAYERS:
        model = train(build_model(name))
        model.save(directory / f"{name}.keras")
        outputs = keras.ops.convert_to_numpy(model(x))
        np.savez(directory / f"{name}.npz", inputs=x, outputs=outputs)


def seeded_draws():
    """The initial weights that a seed alone fixes, and McKernelSampler features:
    the same on every backend (drawn with NumPy)."""
    from keras_crosswise.sklearn import McKernelSampler

    layers = {
        "McKernel": McKernel(12, seed=0),
        "McKernelMatern": McKernel(8, kernel="matern", matern_t=3, seed=0),
        "FastfoodDense": FastfoodDense(20, seed=0),
        "McKernelLaplacian": McKernel(8, kernel="laplacian", seed=0),
        "McKernelOrthogonal": McKernel(8, structure="orthogonal", seed=0),
        "RandomFourierFeatures": RandomFourierFeatures(8, "laplacian", seed=0),
        "CZDense": CZDense(24, kernel_initializer=DiagonalVarianceScaling(seed=0)),
    }
    keras.utils.set_random_seed(3)
    layers["FastfoodDenseGlobalSeed"] = FastfoodDense(20)
    draws = {}
    for name, layer in layers.items():
        layer.build((None, INPUT_DIM))
        for weight in layer.weights:
            draws[f"{name}/{weight.name}"] = keras.ops.convert_to_numpy(weight.value)
    sampler = McKernelSampler(15, random_state=0)
    draws["McKernelSampler"] = sampler.fit_transform(sample_inputs().astype("float64"))
    return draws


def save_seeded(directory):
    np.savez(pathlib.Path(directory) / "seeded.npz", **seeded_draws())


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "save" and len(sys.argv) == 3:
        save_zoo(sys.argv[2])
        save_seeded(sys.argv[2])
    elif command == "golden" and len(sys.argv) > 2:
        save_zoo(GOLDEN_DIR, sys.argv[2:])  # golden files for new layers only
    else:
        sys.exit(__doc__)
