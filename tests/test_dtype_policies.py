"""Every layer under a pure float16 and bfloat16 policy (not mixed): the
policy's dtype out, the float32 layer's values within the low precision's
rounding, and a training step. Issue 39, item 8: FastfoodDense, McKernel,
RandomFourierFeatures and fastfood adapters failed at the first call on
TensorFlow ("cannot compute Mul"), float16 weights meeting float32 rows."""

import keras
import numpy as np
import pytest

from keras_crosswise import adapters
from keras_crosswise.layers import (
    CZDense,
    FastfoodDense,
    McKernel,
    RandomFourierFeatures,
)

from layer_checks import to_numpy

LAYERS = {
    "CZDense": lambda: CZDense(24),
    "CZDense_rank": lambda: CZDense(24, rank=2),
    "FastfoodDense": lambda: FastfoodDense(24, seed=1),
    "McKernel": lambda: McKernel(16, seed=1),
    "RFF_dense": lambda: RandomFourierFeatures(16, seed=1),
    "RFF_fastfood": lambda: RandomFourierFeatures(16, structure="fastfood", seed=1),
}
ADAPTERS = ("cz_bias", "ia3", "fastfood")
TOLERANCE = {"float16": 2e-2, "bfloat16": 1e-1}  # relative to the largest


def model_of(name, x):
    keras.utils.set_random_seed(3)
    if name in LAYERS:
        return keras.Sequential([keras.Input(x.shape[1:]), LAYERS[name]()])
    model = keras.Sequential(
        [keras.Input(x.shape[1:]), keras.layers.Dense(24, name="dense")]
    )
    return adapters.adapt(model, kind=name[len("adapter_") :], seed=1)


@pytest.mark.parametrize("policy", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", [*LAYERS, *(f"adapter_{k}" for k in ADAPTERS)])
def test_a_pure_low_precision_policy(name, policy, rng):
    x = rng.standard_normal((8, 12)).astype("float32")
    reference = model_of(name, x)
    for weight in reference.trainable_weights:  # adapters away from identity
        noise = 0.1 * rng.standard_normal(weight.shape)
        weight.assign(to_numpy(weight) + noise.astype("float32"))
    expected = to_numpy(reference(x)).astype("float64")
    keras.config.set_dtype_policy(policy)  # the conftest puts it back
    model = model_of(name, x)
    for low, high in zip(model.weights, reference.weights, strict=True):
        low.assign(keras.ops.cast(to_numpy(high), low.dtype))
    result = model(x)
    assert keras.backend.standardize_dtype(result.dtype) == policy
    result = to_numpy(keras.ops.cast(result, "float32")).astype("float64")
    error = np.abs(result - expected).max() / np.abs(expected).max()
    assert error < TOLERANCE[policy], error
    if model.trainable_weights:  # McKernel and RFF hold fixed draws alone
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, np.zeros_like(to_numpy(result)), epochs=1, verbose=0)
