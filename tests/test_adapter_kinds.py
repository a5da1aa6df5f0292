"""Adding an adapter kind (CONTRIBUTING): one class and its registration. A
toy kind defined here, a learned output shift `y = activation(W x + b + t)`,
goes through everything a built-in kind does: adapt, fit, save_adapters /
load_adapters, merge, a `.keras` round trip; and the registry refuses a
class that is not a kind, a name taken twice and a missing method."""

import keras
import numpy as np
import pytest

from benchmarks.harness.models import saved_for_backward_bytes
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


def _branches(seed):
    """Two Dense branches of one input, multiplied (as attention's query and
    key), then a head."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32,))
    product = keras.layers.Multiply()(
        [keras.layers.Dense(64, name=name)(inputs) for name in ("first", "second")]
    )
    return keras.Model(inputs, keras.layers.Dense(4, name="head")(product))


@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="eager PyTorch's autograd saves"
)
@pytest.mark.parametrize("rows", [16, 1024])
@pytest.mark.parametrize("kind", ["cz", "cz_bias", "ia3"])
def test_torch_backward_keeps_as_little_as_lora(kind, rows, monkeypatch, rng):
    """Issue 40, item 3: eager PyTorch kept both an adapted layer's output
    and its rescaled copy for the backward. Now, for 16 rows, `scale_shift`
    keeps only the copy, which the product keeps anyway: two outputs less;
    for 1024 rows (more than the 32 inputs) the vector is folded into the
    kernel, and the backward keeps the input and the scaled kernels, as
    Keras's LoRA keeps its merged kernels: no more than LoRA r4 keeps. The
    gradients are those of the plain products."""
    from keras_crosswise import _backends
    from keras_crosswise._backends import torch as torch_backend

    x = keras.ops.convert_to_tensor(rng.standard_normal((rows, 32)), "float32")
    lora = _branches(1)
    for name in ("first", "second"):
        lora.get_layer(name).enable_lora(4)
    lora_kept = saved_for_backward_bytes(lambda: lora(x, training=True).sum(), lora)
    model = _branches(1)
    adapters.adapt(model, kind=kind, layers=["first", "second"], train=["head"])
    for weight in model.trainable_weights:  # away from the starting ones
        weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))

    def loss():
        return model(x, training=True).sum()

    lean = saved_for_backward_bytes(loss, model)
    lean_gradients = [to_numpy(w.value.grad) for w in model.trainable_weights]
    for weight in model.trainable_weights:
        weight.value.grad = None
    for module in (_backends, torch_backend):  # the fold's and scale_shift's
        monkeypatch.setattr(module, "keeps_output", lambda *tensors: False)
    plain = saved_for_backward_bytes(loss, model)
    plain_gradients = [to_numpy(w.value.grad) for w in model.trainable_weights]
    activation, vectors = rows * 64 * 4, 4 * 64 * 4  # vectors: c and b, twice
    if rows < 32:  # two outputs less
        assert plain - lean >= 2 * activation - vectors, (plain, lean)
    else:  # two outputs less, the input and two scaled kernels more
        kept = rows * 32 * 4 + 2 * 32 * 64 * 4
        assert plain - lean >= 2 * activation - kept - vectors, (plain, lean)
    assert lean <= lora_kept + vectors, (lean, lora_kept)
    for lean_gradient, plain_gradient in zip(
        lean_gradients, plain_gradients, strict=True
    ):
        np.testing.assert_allclose(lean_gradient, plain_gradient, rtol=1e-4, atol=1e-4)
