"""Diagonal adapters: each kind's forward against NumPy float64, merge exactness,
the base model untouched after `fit`, reload, the adapters-only file, nested
and keras-hub layers, EinsumDense, mixed precision, beside LoRA, bad input."""

import keras
import numpy as np
import pytest

from keras_crosswise import adapters
from keras_crosswise._surgery import find_layers
from keras_crosswise.adapters import DiagonalAdapter, adapt, merge

from layer_checks import JIT, fastfood_reference_kernel, to_numpy

KINDS = ("cz", "cz_bias", "fastfood")


def base_model(rng, d=12, width=20):
    keras.utils.set_random_seed(int(rng.integers(1000)))
    model = keras.Sequential(
        [
            keras.Input((d,)),
            keras.layers.Dense(width, activation="relu", name="hidden"),
            keras.layers.Dense(4, name="head"),
        ]
    )
    for layer in model.layers:
        layer.bias.assign(rng.standard_normal(layer.bias.shape).astype("float32"))
    return model


def randomise_adapter(adapter, rng):
    """Move every learned diagonal off its start so the reference is not trivial."""
    for weight in adapter.trainable_weights:
        weight.assign(rng.standard_normal(weight.shape).astype("float32"))


def relu(values):
    return np.maximum(values, 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_matches_a_numpy_float64_reference(kind, rng):
    model = base_model(rng)
    adapted = adapt(model, kind=kind, layers=["hidden"], seed=3)
    adapter = adapted.get_layer("hidden")
    assert isinstance(adapter, DiagonalAdapter)
    randomise_adapter(adapter, rng)
    x = rng.standard_normal((2, 3, 12)).astype("float32")  # rank 3: (..., features)
    kernel = to_numpy(adapter.layer.kernel).astype("float64")
    bias = to_numpy(adapter.layer.bias).astype("float64")
    if kind == "fastfood":
        delta = fastfood_reference_kernel(
            to_numpy(adapter.signs),
            to_numpy(adapter.permutation),
            to_numpy(adapter.gaussian),
            to_numpy(adapter.output_scale).astype("float64"),
            12,
        )  # (d, units), with FastfoodDense's normalization sqrt(n / d) / n
        delta = to_numpy(adapter.input_scale)[:, None] * delta
        expected = relu(x @ (kernel + delta) + bias)
    else:
        expected = relu(to_numpy(adapter.scale) * (x @ kernel) + bias)
    np.testing.assert_allclose(to_numpy(adapter(x)), expected, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_starts_as_the_base_model_and_only_the_adapter_learns(kind, rng):
    model = base_model(rng)
    x = rng.standard_normal((8, 12)).astype("float32")
    adapted = adapt(model, kind=kind, layers=["hidden"])
    np.testing.assert_allclose(to_numpy(adapted(x)), to_numpy(model(x)), atol=1e-5)
    names = {w.name for w in adapted.get_layer("hidden").trainable_weights}
    expected = {"cz": {"scale"}, "cz_bias": {"scale", "bias"}}
    assert names == expected.get(kind, {"input_scale", "output_scale"})
    adapted.trainable = True  # Keras's switch must not unfreeze W or F
    assert {w.name for w in adapted.get_layer("hidden").trainable_weights} == names


@pytest.mark.parametrize("kind", KINDS)
def test_base_model_untouched_after_fit_and_merge_is_exact(kind, rng, tmp_path):
    model = base_model(rng)
    before = [to_numpy(w).copy() for w in model.weights]
    x = rng.standard_normal((32, 12)).astype("float32")
    y = rng.integers(0, 4, 32)
    adapted = adapt(model, kind=kind, seed=1)
    adapted.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=JIT,
    )
    adapted.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for old, new in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(old, to_numpy(new))
    assert not np.allclose(to_numpy(adapted(x)), to_numpy(model(x)), atol=1e-3)
    merged = merge(adapted)
    kinds = {type(layer).__module__.split(".")[0] for layer in merged.layers}
    assert kinds == {"keras"}
    np.testing.assert_allclose(to_numpy(merged(x)), to_numpy(adapted(x)), atol=1e-5)
    adapted.save(tmp_path / "adapted.keras")
    restored = keras.models.load_model(tmp_path / "adapted.keras")
    np.testing.assert_allclose(to_numpy(restored(x)), to_numpy(adapted(x)), atol=1e-6)
    adapters.save_adapters(adapted, tmp_path / "adapters.npz")
    size = (tmp_path / "adapters.npz").stat().st_size
    assert size < (tmp_path / "adapted.keras").stat().st_size
    again = adapters.load_adapters(model, tmp_path / "adapters.npz")
    np.testing.assert_allclose(to_numpy(again(x)), to_numpy(adapted(x)), atol=1e-6)


def test_einsum_dense_attention_and_keras_hub_encoder(rng, tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    inputs = keras.Input((5, 8))
    hidden = keras_hub.layers.TransformerEncoder(16, num_heads=2)(inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(pooled))
    x = rng.standard_normal((4, 5, 8)).astype("float32")
    for kind in KINDS:
        adapted = adapt(model, kind=kind, layers=lambda layer: layer.name != "head")
        found = find_layers(adapted, lambda layer: isinstance(layer, DiagonalAdapter))
        einsum = [a for a in found if isinstance(a.layer, keras.layers.EinsumDense)]
        assert len(found) == 6 and len(einsum) == 4  # q, k, v, output; 2 FF Dense
        np.testing.assert_allclose(to_numpy(adapted(x)), to_numpy(model(x)), atol=1e-5)
        for adapter in found:
            randomise_adapter(adapter, rng)
        merged = merge(adapted)
        np.testing.assert_allclose(to_numpy(merged(x)), to_numpy(adapted(x)), atol=1e-4)
        left = find_layers(
            merged, lambda layer: "keras_crosswise" in type(layer).__module__
        )
        assert not left, left  # plain keras-hub and Keras layers again
    adapted.save(tmp_path / "encoder.keras")
    restored = keras.models.load_model(tmp_path / "encoder.keras")
    np.testing.assert_allclose(to_numpy(restored(x)), to_numpy(adapted(x)), atol=1e-5)


def test_a_keras_hub_backbone_built_from_a_config(rng, tmp_path):
    """A backbone is a functional subclass with dict inputs and keras.ops calls
    (non-layer operations) in its graph; the copy is a functional keras.Model."""
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(3)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=8,
    )
    x = {
        "token_ids": rng.integers(0, 50, (4, 8)).astype("int32"),
        "segment_ids": rng.integers(0, 2, (4, 8)).astype("int32"),
        "padding_mask": np.ones((4, 8), "int32"),
    }
    before = [w.copy() for w in backbone.get_weights()]
    expected = {k: to_numpy(v) for k, v in backbone(x).items()}
    adapted = adapt(backbone, kind="fastfood")
    found = find_layers(adapted, lambda layer: isinstance(layer, DiagonalAdapter))
    assert len(found) == 7  # q, k, v, attention output, 2 feed-forward, pooler
    for name, value in adapted(x).items():
        np.testing.assert_allclose(to_numpy(value), expected[name], atol=1e-5)
    adapted.compile(optimizer="adam", loss={"pooled_output": "mse"}, jit_compile=JIT)
    target = rng.standard_normal((4, 16)).astype("float32")
    adapted.fit(x, {"pooled_output": target}, epochs=2, verbose=0)
    for old, now in zip(before, backbone.get_weights(), strict=True):
        np.testing.assert_array_equal(now, old)
    outputs = {k: to_numpy(v) for k, v in adapted(x).items()}
    assert np.abs(outputs["pooled_output"] - expected["pooled_output"]).max() > 1e-4
    merged = merge(adapted)
    for name, value in merged(x).items():
        np.testing.assert_allclose(to_numpy(value), outputs[name], atol=1e-4)
    adapted.save(tmp_path / "backbone.keras")
    restored = keras.models.load_model(tmp_path / "backbone.keras", compile=False)
    for name, value in restored(x).items():
        np.testing.assert_allclose(to_numpy(value), outputs[name], atol=1e-5)


def test_mixed_precision_jit_and_beside_keras_lora(rng):
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = base_model(rng)
    model.get_layer("head").enable_lora(2)
    adapted = adapt(model, kind="fastfood", layers=["hidden"])
    trainable = {w.path.split("/")[-1] for w in adapted.trainable_weights}
    assert {"lora_kernel_a", "lora_kernel_b", "input_scale", "output_scale"} <= (
        trainable
    )
    adapted.compile(optimizer="adam", loss="mse", jit_compile=JIT)
    x = rng.standard_normal((16, 12)).astype("float32")
    history = adapted.fit(x, np.zeros((16, 4), "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert keras.backend.standardize_dtype(adapted(x).dtype) == "bfloat16"
    with pytest.raises(ValueError, match="LoRA enabled"):
        adapt(model, layers=["head"])


def test_bad_input_is_refused_clearly(rng):
    model = base_model(rng)
    with pytest.raises(ValueError, match=r"`kind` must be one of"):
        adapt(model, kind="lora")
    with pytest.raises(ValueError, match="'nope', which is not a layer"):
        adapt(model, layers=["nope"])
    conv = keras.Sequential(
        [keras.Input((8, 1)), keras.layers.Conv1D(2, 3, name="conv")]
    )
    with pytest.raises(TypeError, match="'conv' is a Conv1D"):
        adapt(conv, layers=["conv"])
    with pytest.raises(ValueError, match="must be built"):
        adapt(keras.Sequential([keras.layers.Dense(3)]))
    adapted = adapt(model, layers=["hidden"])
    with pytest.raises(ValueError, match="already adapted"):
        adapt(adapted, layers=["hidden"])
    with pytest.raises(ValueError, match="no adapters to merge"):
        merge(model)
    with pytest.raises(TypeError, match="`layers` must be None"):
        adapt(model, layers=3)
    with pytest.raises(ValueError, match="every one is adapted already"):
        adapt(adapt(model), layers=None)
