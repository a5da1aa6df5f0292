"""Adding an adapter kind (CONTRIBUTING): one class and its registration. A
toy kind defined here, a learned output shift `y = activation(W x + b + t)`,
goes through everything a built-in kind does: adapt, fit, save_adapters /
load_adapters, merge, a `.keras` round trip; and the registry refuses a
class that is not a kind, a name taken twice and a missing method."""

import keras
import numpy as np
import pytest

from keras_crosswise import adapters
from keras_crosswise.adapters import AdapterKind, register_kind
from keras_crosswise.adapters import kinds as kinds_module

from layer_checks import to_numpy


class Shift(AdapterKind):
    """`y = activation(W x + b + t)`: t -> `shift`, zeros at start."""

    name = "toy_shift"

    def build(self, adapter):
        adapter.shift = adapter.add_weight(
            name="shift", shape=adapter.feature_shape(), initializer="zeros"
        )

    def call(self, adapter, inputs):
        return adapter.activation(adapter.layer(inputs) + adapter.shift)

    def merged(self, adapter, kernel, bias):
        shift = np.asarray(keras.ops.convert_to_numpy(adapter.shift), "float64")
        return kernel, (0.0 if bias is None else bias) + shift


@pytest.fixture(scope="module")
def toy_kind():
    register_kind(Shift)
    yield Shift.name
    del kinds_module._KINDS[Shift.name]  # the registry as it was


def model_of(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, activation="tanh", name="hidden"),
            keras.layers.Dense(3, name="head"),
        ]
    )


def test_a_new_kind_goes_the_whole_way(toy_kind, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6)).astype("float32")
    y = rng.standard_normal((32, 3)).astype("float32")
    model = adapters.adapt(model_of(1), kind=toy_kind, layers=["hidden"])
    kernel, bias = (
        np.asarray(to_numpy(w), "float64")
        for w in model.get_layer("hidden").layer.weights
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, epochs=3, verbose=0)
    shift = np.asarray(to_numpy(model.get_layer("hidden").shift), "float64")
    assert np.abs(shift).max() > 0  # it learned
    # Its forward against NumPy float64.
    head_kernel, head_bias = (
        np.asarray(to_numpy(w), "float64") for w in model.layers[1].weights
    )
    expected = np.tanh(x @ kernel + bias + shift) @ head_kernel + head_bias
    np.testing.assert_allclose(to_numpy(model(x)), expected, rtol=1e-4, atol=1e-5)
    # A small file; loaded onto a fresh copy of the base, the same outputs.
    adapters.save_adapters(model, tmp_path / "toy.adapters")
    fresh = adapters.load_adapters(model_of(1), tmp_path / "toy.adapters")
    np.testing.assert_allclose(to_numpy(fresh(x)), to_numpy(model(x)), atol=1e-6)
    # A .keras round trip of the adapted model.
    model.save(tmp_path / "adapted.keras")
    reloaded = keras.models.load_model(tmp_path / "adapted.keras")
    np.testing.assert_allclose(to_numpy(reloaded(x)), to_numpy(model(x)), atol=1e-6)
    # Merged: plain Dense layers computing the same.
    merged = adapters.merge(model)
    assert [type(layer).__name__ for layer in merged.layers] == ["Dense", "Dense"]
    np.testing.assert_allclose(to_numpy(merged(x)), expected, rtol=1e-4, atol=1e-5)


def test_the_registry_checks_what_it_registers(toy_kind):
    assert toy_kind in adapters.registered_kinds()
    with pytest.raises(ValueError, match="registered already"):
        register_kind(Shift)
    with pytest.raises(TypeError, match="subclass of AdapterKind"):
        register_kind(keras.layers.Dense)

    class Nameless(Shift):
        name = "two words"

    with pytest.raises(ValueError, match="identifier"):
        register_kind(Nameless)

    class Incomplete(AdapterKind):
        name = "incomplete"

        def build(self, adapter):
            pass

    with pytest.raises(TypeError, match=r"\['call', 'merged'\]"):
        register_kind(Incomplete)
    assert "incomplete" not in adapters.registered_kinds()
    with pytest.raises(ValueError, match="`kind` must be one of"):
        adapters.adapt(model_of(2), kind="unknown")
