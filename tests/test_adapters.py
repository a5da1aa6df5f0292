"""Diagonal adapters: each kind's forward against NumPy float64, in place (no
weight copied, the base frozen), every other weight bitwise unchanged by
`fit`, unload / merge / disable, targeting, adapter files, quantized bases,
keras-hub backbones built from a config, mixed precision, bad input."""

import json
import zipfile

import keras
import numpy as np
import pytest

import keras_crosswise
from keras_crosswise import adapters
from keras_crosswise._surgery import find_layers, layer_paths
from keras_crosswise.adapters import DiagonalAdapter, adapt, merge, unload

from layer_checks import JIT, fastfood_reference_kernel, to_numpy

KINDS = ("cz", "cz_bias", "fastfood", "ia3")


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


def found_adapters(model):
    return find_layers(model, lambda layer: isinstance(layer, DiagonalAdapter))


def randomise_adapters(model, rng):
    """Move every learned vector off its start so references are not trivial."""
    for adapter in found_adapters(model):
        for weight in adapter.trainable_weights:
            value = 1 + 0.5 * rng.standard_normal(weight.shape)
            weight.assign(value.astype("float32"))


def relu(values):
    return np.maximum(values, 0.0)


def tiny_bert(keras_hub, seed=3, layers=2, hidden=16):
    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(
        vocabulary_size=50,
        num_layers=layers,
        num_heads=2,
        hidden_dim=hidden,
        intermediate_dim=2 * hidden,
        max_sequence_length=8,
    )


def bert_inputs(rng, batch=4):
    return {
        "token_ids": rng.integers(0, 50, (batch, 8)).astype("int32"),
        "segment_ids": rng.integers(0, 2, (batch, 8)).astype("int32"),
        "padding_mask": np.ones((batch, 8), "int32"),
    }


@pytest.mark.parametrize("kind", [*KINDS, "ia3_feedforward"])
def test_forward_matches_a_numpy_float64_reference(kind, rng):
    model = base_model(rng)
    feedforward = ["hidden"] if kind == "ia3_feedforward" else None
    kind = kind.split("_feedforward")[0]
    adapt(model, kind=kind, layers=["hidden"], seed=3, feedforward=feedforward)
    adapter = model.get_layer("hidden")
    assert isinstance(adapter, DiagonalAdapter)
    randomise_adapters(model, rng)
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
    elif feedforward:
        expected = relu((x * to_numpy(adapter.scale)) @ kernel + bias)
    elif kind == "ia3":
        expected = to_numpy(adapter.scale) * relu(x @ kernel + bias)
    else:
        offset = to_numpy(adapter.bias) if kind == "cz_bias" else 0.0
        expected = relu(to_numpy(adapter.scale) * (x @ kernel) + bias + offset)
    np.testing.assert_allclose(to_numpy(adapter(x)), expected, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_adapt_works_in_place_and_only_the_adapter_learns(kind, rng):
    model = base_model(rng)
    weights = list(model.weights)
    x = rng.standard_normal((8, 12)).astype("float32")
    before = to_numpy(model(x))
    adapted = adapt(model, kind=kind, layers=["hidden"])
    assert adapted is model
    own = {id(w) for w in model.weights}
    assert all(id(w) in own for w in weights)  # the base's own variables
    np.testing.assert_array_equal(to_numpy(model(x)), before)
    names = {w.path.split("/")[-1] for w in model.trainable_weights}
    expected = {"cz": {"scale"}, "cz_bias": {"scale", "bias_offset"}, "ia3": {"scale"}}
    assert names == expected.get(kind, {"input_scale", "output_scale"})
    model.trainable = True  # Keras's switch unfreezes the base, never W or F
    adapter_names = {w.name for w in model.get_layer("hidden").trainable_weights}
    assert adapter_names == names


@pytest.mark.parametrize("kind", KINDS)
def test_fit_changes_adapters_only_then_disable_unload_and_merge(kind, rng, tmp_path):
    model = base_model(rng)
    x = rng.standard_normal((32, 12)).astype("float32")
    y = rng.integers(0, 4, 32)
    base_outputs = to_numpy(model(x))
    adapt(model, kind=kind, train=None, seed=1, layers=["hidden"])
    inside = {id(w) for a in found_adapters(model) for w in a.trainable_weights}
    frozen = [(w, to_numpy(w).copy()) for w in model.weights if id(w) not in inside]
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=JIT,
    )
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for weight, old in frozen:
        np.testing.assert_array_equal(to_numpy(weight), old, err_msg=weight.path)
    tuned = to_numpy(model(x))
    assert not np.allclose(tuned, base_outputs, atol=1e-3)
    with adapters.disabled(model):
        np.testing.assert_array_equal(to_numpy(model(x)), base_outputs)
        predicted = model.predict(x, verbose=0)  # traced again, adapters off
        np.testing.assert_allclose(predicted, base_outputs, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), tuned, atol=1e-6)
    model.save(tmp_path / "adapted.keras")
    restored = keras.models.load_model(tmp_path / "adapted.keras")
    np.testing.assert_allclose(to_numpy(restored(x)), tuned, atol=1e-6)
    if kind == "ia3":  # on a ReLU layer's output: no kernel holds it
        with pytest.raises(ValueError, match="activation 'relu'"):
            merge(restored)
        unload(restored)
        np.testing.assert_array_equal(to_numpy(restored(x)), base_outputs)
        return
    merge(restored)
    assert {type(layer).__module__.split(".")[0] for layer in restored.layers} == {
        "keras"
    }
    np.testing.assert_allclose(to_numpy(restored(x)), tuned, atol=1e-5)


def test_unload_gives_back_the_base_layers_and_outputs_exactly(rng):
    model = base_model(rng)
    layers, config = list(model.layers), model.get_config()
    x = rng.standard_normal((8, 12)).astype("float32")
    before = to_numpy(model(x))
    adapt(model, kind="fastfood")
    randomise_adapters(model, rng)
    assert not np.allclose(to_numpy(model(x)), before)
    assert unload(model) is model
    assert all(a is b for a, b in zip(model.layers, layers, strict=True))
    assert model.get_config() == config  # activations given back too
    np.testing.assert_array_equal(to_numpy(model(x)), before)
    with pytest.raises(ValueError, match="no adapters to unload"):
        unload(model)


def test_a_subclassed_model_is_adapted_in_place(rng):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="tanh")
            self.out = keras.layers.Dense(2)

        def call(self, x):
            return self.out(self.hidden(x))

    net = Net()
    x = rng.standard_normal((4, 5)).astype("float32")
    before = to_numpy(net(x))
    adapted = adapt(net, kind="cz_bias", layers=lambda layer: layer is net.hidden)
    assert adapted is net and isinstance(net.hidden, DiagonalAdapter)
    randomise_adapters(net, rng)
    tuned = to_numpy(net(x))
    assert not np.allclose(tuned, before)
    merge(net)
    assert type(net.hidden) is keras.layers.Dense
    np.testing.assert_allclose(to_numpy(net(x)), tuned, atol=1e-5)


def test_targets_by_name_path_pattern_and_callable_and_train(rng):
    keras_hub = pytest.importorskip("keras_hub")
    backbone = tiny_bert(keras_hub)
    paths = layer_paths(backbone)
    query = next(
        layer
        for layer in find_layers(backbone, lambda _: True)
        if layer.name == "query"
    )
    path = paths[id(query)]
    assert path == "transformer_layer_0/self_attention_layer/query"
    adapt(backbone, kind="cz", layers=[path])
    paths = layer_paths(backbone)
    assert [paths[id(a)] for a in found_adapters(backbone)] == [path]
    unload(backbone)
    adapt(backbone, kind="cz", layers=r".*_1/.*/(query|key)", train=["pooled_dense"])
    assert sorted(layer_paths(backbone)[id(a)] for a in found_adapters(backbone)) == [
        "transformer_layer_1/self_attention_layer/key",
        "transformer_layer_1/self_attention_layer/query",
    ]
    trainable = {w.path for w in backbone.trainable_weights}
    assert {"pooled_dense/kernel", "pooled_dense/bias"} <= trainable
    assert not any("token_embedding" in p or "layer_norm" in p for p in trainable)
    unload(backbone)
    adapt(backbone, kind="cz", layers=lambda layer: layer.name == "attention_output")
    assert len(found_adapters(backbone)) == 2
    unload(backbone)
    with pytest.raises(ValueError, match=r"not a regular expression|is not one"):
        adapt(backbone, layers="(")


@pytest.mark.parametrize("kind", ["cz_bias", "ia3", "fastfood"])
def test_a_keras_hub_backbone_built_from_a_config(kind, rng, tmp_path):
    """In place on a BertBackbone: keras-hub's targets, nothing copied, the
    adapters about 1% of the weights, the base bitwise unchanged by fit,
    adapters-only files reloaded on a fresh backbone, merge, unload."""
    keras_hub = pytest.importorskip("keras_hub")
    backbone = tiny_bert(keras_hub, hidden=64)
    x = bert_inputs(rng)
    base = [(w, to_numpy(w).copy()) for w in backbone.weights]
    base_bytes = sum(v.nbytes for _, v in base)
    expected = {k: to_numpy(v) for k, v in backbone(x).items()}
    assert adapt(backbone, kind=kind, seed=5) is backbone
    assert isinstance(backbone, keras_hub.models.BertBackbone)
    names = sorted(a.name for a in found_adapters(backbone))
    per_layer = ["key", "value", "feedforward_output_dense"] if kind == "ia3" else []
    per_layer = per_layer or ["query", "value"]  # what enable_lora targets
    assert names == sorted(per_layer * 2)
    ff = [a.name for a in found_adapters(backbone) if a.feedforward]
    assert ff == (["feedforward_output_dense"] * 2 if kind == "ia3" else [])
    ids = {id(w) for w in backbone.weights}
    assert all(id(w) in ids for w, _ in base)  # no copy: the base's variables
    added = sum(
        int(np.prod(w.shape)) * 4
        for w in backbone.weights
        if id(w) not in {id(b) for b, _ in base}
    )
    assert added <= 0.05 * base_bytes, (added, base_bytes)
    trainable = backbone.trainable_weights
    inside = {id(w) for a in found_adapters(backbone) for w in a.trainable_weights}
    assert trainable and all(id(w) in inside for w in trainable)
    for name, value in backbone(x).items():
        np.testing.assert_allclose(to_numpy(value), expected[name], atol=1e-5)
    backbone.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss={"pooled_output": "mse"},
        jit_compile=JIT,
    )
    target = rng.standard_normal((4, 64)).astype("float32")
    backbone.fit(x, {"pooled_output": target}, epochs=3, verbose=0)
    for weight, old in base:
        np.testing.assert_array_equal(to_numpy(weight), old, err_msg=weight.path)
    tuned = {k: to_numpy(v) for k, v in backbone(x).items()}
    assert np.abs(tuned["pooled_output"] - expected["pooled_output"]).max() > 1e-5
    adapters.save_adapters(backbone, tmp_path / "bert.adapters")
    fresh = tiny_bert(keras_hub, hidden=64)  # the same base weights (seed)
    adapters.load_adapters(fresh, tmp_path / "bert.adapters")
    for name, value in fresh(x).items():
        np.testing.assert_allclose(to_numpy(value), tuned[name], atol=1e-6)
    merge(backbone)
    assert not found_adapters(backbone)
    for name, value in backbone(x).items():
        np.testing.assert_allclose(to_numpy(value), tuned[name], atol=1e-4)
    unload(fresh)
    for name, value in fresh(x).items():
        np.testing.assert_array_equal(to_numpy(value), expected[name])


def test_einsum_dense_in_a_keras_hub_encoder_saves_and_unwraps(rng, tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    inputs = keras.Input((5, 8))
    hidden = keras_hub.layers.TransformerEncoder(16, num_heads=2)(inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(pooled))
    x = rng.standard_normal((4, 5, 8)).astype("float32")
    before = to_numpy(model(x))
    for kind in KINDS:
        adapt(model, kind=kind, layers=lambda layer: layer.name != "head")
        found = found_adapters(model)
        einsum = [a for a in found if isinstance(a.layer, keras.layers.EinsumDense)]
        assert len(found) == 6 and len(einsum) == 4  # q, k, v, output; 2 FF Dense
        np.testing.assert_allclose(to_numpy(model(x)), before, atol=1e-5)
        randomise_adapters(model, rng)
        tuned = to_numpy(model(x))
        model.save(tmp_path / "encoder.keras")
        restored = keras.models.load_model(tmp_path / "encoder.keras")
        np.testing.assert_allclose(to_numpy(restored(x)), tuned, atol=1e-5)
        if kind == "ia3":  # the first feed-forward layer has an activation
            unload(model)
        else:
            merge(model)
            np.testing.assert_allclose(to_numpy(model(x)), tuned, atol=1e-4)
            before = tuned
        left = find_layers(model, lambda layer: "crosswise" in type(layer).__module__)
        assert not left, left  # plain keras-hub and Keras layers again
        encoder = model.layers[1]
        assert type(encoder) is keras_hub.layers.TransformerEncoder


@pytest.mark.parametrize("mode", ["int8", "int4"])
@pytest.mark.parametrize("kind", ["cz_bias", "ia3", "fastfood"])
def test_quantized_bases_before_and_after_adapt(mode, kind, rng):
    """Keras's quantized layers compute through their own call: the adapted
    model quantized (either order) is within the base's quantization error
    of the float adapted model."""

    def model():
        keras.utils.set_random_seed(7)
        return keras.Sequential(
            [
                keras.Input((12,)),
                keras.layers.Dense(32, activation="relu", name="hidden"),
                keras.layers.EinsumDense("ab,bc->ac", (8,), bias_axes="c", name="out"),
            ]
        )

    x = rng.standard_normal((64, 12)).astype("float32")
    base = model()
    float_base = to_numpy(base(x))
    base.quantize(mode)
    scale = np.abs(float_base).max()
    base_error = np.abs(to_numpy(base(x)) - float_base).max() / scale
    floats = adapt(model(), kind=kind, seed=2)
    randomise_adapters(floats, rng)
    values = [to_numpy(w) for a in found_adapters(floats) for w in a.trainable_weights]
    reference = to_numpy(floats(x))
    after = adapt(model(), kind=kind, seed=2)
    before = model()
    before.quantize(mode)
    adapt(before, kind=kind, seed=2)
    after.quantize(mode)
    for quantized in (after, before):
        modes = {a.layer.quantization_mode for a in found_adapters(quantized)}
        assert modes == {mode}
        weights = [w for a in found_adapters(quantized) for w in a.trainable_weights]
        for weight, value in zip(weights, values, strict=True):
            weight.assign(value)
        error = np.abs(to_numpy(quantized(x)) - reference).max() / scale
        assert error < 3 * base_error + 1e-3, (error, base_error)
    with pytest.raises(ValueError, match="quantized"):
        merge(after)


def test_adapter_files_keyed_by_path_atomic_and_checked(rng, tmp_path, monkeypatch):
    model = base_model(rng)
    adapt(model, kind="fastfood", layers=["hidden"], train=["head"], seed=4)
    randomise_adapters(model, rng)
    x = rng.standard_normal((4, 12)).astype("float32")
    tuned = to_numpy(model(x))
    path = tmp_path / "my.adapters"  # no .npz added: saved and loaded as given
    adapters.save_adapters(model, path)
    assert path.exists() and not (tmp_path / "my.adapters.npz").exists()
    with np.load(path) as stored:
        meta = json.loads(str(stored["meta"]))
        keys = set(stored.files)
    assert meta["version"] == 2 and meta["adapters"][0]["path"] == "hidden"
    assert meta["adapters"][0]["kind"] == "fastfood"
    assert meta["adapters"][0]["seed"] == 4
    assert meta["adapters"][0]["shapes"]["input_scale"] == [12]
    assert keys == {
        "meta",
        *(f"adapters/hidden/{n}" for n in meta["adapters"][0]["shapes"]),
        "trained/head/kernel",
        "trained/head/bias",
    }
    fresh = base_model(rng)
    for new, old in zip(fresh.weights, unload(model).weights, strict=True):
        new.assign(old)
    adapters.load_adapters(fresh, path)
    np.testing.assert_allclose(to_numpy(fresh(x)), tuned, atol=1e-6)
    assert {w.path.split("/")[-1] for w in fresh.trainable_weights} == {
        "input_scale",
        "output_scale",
        "kernel",
        "bias",
    }

    good = path.read_bytes()  # a failed write keeps the old file whole
    monkeypatch.setattr(np, "savez", lambda *a, **k: (_ for _ in ()).throw(OSError))
    with pytest.raises(OSError):
        adapters.save_adapters(fresh, path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my.adapters"]

    def tampered(name, change):
        with np.load(path) as stored:
            arrays = {key: stored[key] for key in stored.files}
        change(arrays)
        np.savez(tmp_path / name, **arrays)
        return tmp_path / name

    def permutation(arrays):
        arrays["adapters/hidden/permutation"][0, :2] = 0

    def out_of_range(arrays):  # JAX gathered NaN, TF and PyTorch failed later
        arrays["adapters/hidden/permutation"][0, 0] = 16

    def negative(arrays):  # silently wrong outputs on every backend
        arrays["adapters/hidden/permutation"][0] *= -1

    def signs(arrays):
        arrays["adapters/hidden/signs"][0, 0] = 0.5

    def version(arrays):
        arrays["meta"] = np.array(json.dumps({**meta, "version": 7}))

    def missing(arrays):
        del arrays["adapters/hidden/gaussian"]

    for name, change, message in (
        ("p.npz", permutation, "permutation of 0..15"),
        ("r.npz", out_of_range, "permutation of 0..15"),
        ("n.npz", negative, "permutation of 0..15"),
        ("s.npz", signs, "only \\+1 and -1"),
        ("v.npz", version, "version 7"),
        ("m.npz", missing, "`gaussian` is missing"),
    ):
        target = base_model(rng)
        config = target.get_config()
        with pytest.raises(ValueError, match=message):
            adapters.load_adapters(target, tampered(name, change))
        assert target.get_config() == config  # refused before any change
    wider = base_model(rng, width=24)
    with pytest.raises(ValueError, match=r"'hidden' weight `input_scale`|shape"):
        adapters.load_adapters(wider, path)
    other = keras.Sequential(
        [keras.Input((12,)), keras.layers.Dense(4, name="other")], name="x"
    )
    with pytest.raises(ValueError, match="no layer at that path"):
        adapters.load_adapters(other, path)
    kind_clash = adapt(base_model(rng), kind="cz", layers=["hidden"])
    with pytest.raises(ValueError, match="of kind 'fastfood'; `model` has an adapter"):
        adapters.load_adapters(kind_clash, path)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not an adapters file"):
        adapters.load_adapters(base_model(rng), tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="No adapters file"):
        adapters.load_adapters(base_model(rng), tmp_path / "none.npz")
    with zipfile.ZipFile(tmp_path / "nometa.npz", "w") as archive:
        archive.writestr("x.npy", b"")
    with pytest.raises(ValueError, match="not an adapters file"):
        adapters.load_adapters(base_model(rng), tmp_path / "nometa.npz")


def test_a_cz_bias_adapter_saved_by_0_3_still_loads(rng, tmp_path):
    """0.3's cz_bias trained the layer's own bias: its files hold the scale
    alone as the adapter's weights (the golden file in tests/golden too)."""
    model = base_model(rng)
    adapt(model, kind="cz_bias", layers=["hidden"])
    adapter = model.get_layer("hidden")
    store = {"0": rng.standard_normal(adapter.scale.shape).astype("float32")}
    adapter.load_own_variables(store)
    np.testing.assert_array_equal(to_numpy(adapter.scale), store["0"])
    np.testing.assert_array_equal(to_numpy(adapter.bias), 0.0)


def test_mixed_precision_jit_and_beside_keras_lora(rng):
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = base_model(rng)
    model.get_layer("head").enable_lora(2)
    adapt(model, kind="fastfood", layers=["hidden"], train=["head"])
    trainable = {w.path.split("/")[-1] for w in model.trainable_weights}
    assert {"lora_kernel_a", "lora_kernel_b", "input_scale", "output_scale"} <= (
        trainable
    )
    model.compile(optimizer="adam", loss="mse", jit_compile=JIT)
    x = rng.standard_normal((16, 12)).astype("float32")
    history = model.fit(x, np.zeros((16, 4), "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert keras.backend.standardize_dtype(model(x).dtype) == "bfloat16"
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
    with pytest.raises(ValueError, match="'conv', but it is a Conv1D"):
        adapt(conv, layers=["conv"])
    with pytest.raises(ValueError, match="must be built"):
        adapt(keras.Sequential([keras.layers.Dense(3)]))
    with pytest.raises(TypeError, match=r"must be a keras\.Model"):
        adapt(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="`feedforward` goes with kind='ia3'"):
        adapt(model, kind="cz", feedforward=["hidden"])
    with pytest.raises(ValueError, match="`train` names 'nope'"):
        adapt(model, train=["nope"])
    with pytest.raises(TypeError, match="`layers` must be None"):
        adapt(model, layers=3)
    adapt(model, layers=["hidden"])
    with pytest.raises(ValueError, match="already adapted"):
        adapt(model, layers=["hidden"])
    adapt(model, layers=None)
    with pytest.raises(ValueError, match="every one is adapted already"):
        adapt(model, layers=None)
    with pytest.raises(ValueError, match="no adapters to merge"):
        merge(base_model(rng))
    with pytest.raises(ValueError, match="no adapters to save"):
        adapters.save_adapters(base_model(rng), "x.npz")


def weight_state(model):
    """Every weight's value and flag and every layer's flag: a refused load
    must leave all of them as they were."""
    return (
        [(w.path, to_numpy(w).tobytes(), w.trainable) for w in model.weights],
        [(layer.name, layer.trainable) for layer in find_layers(model, bool)],
    )


@pytest.mark.parametrize("kind", ["ia3", "cz_bias"])
def test_a_layer_in_train_is_trained_not_adapted_and_round_trips(kind, rng, tmp_path):
    """Issue 39, item 2: with default targets, `train=["head"]` adapted the
    head too and trained its kernel; save_adapters then left the kernel out
    on JAX and PyTorch (a reload differed by 1.5-2.0), and TensorFlow never
    trained it. Now a layer in `train` is trained in full, not adapted."""
    model = base_model(rng)
    base = [to_numpy(w) for w in model.weights]
    adapt(model, kind=kind, train=["head"])  # the docs' first snippet (ia3)
    assert [a.name for a in found_adapters(model)] == ["hidden"]
    assert isinstance(model.get_layer("head"), keras.layers.Dense)
    x = rng.standard_normal((32, 12)).astype("float32")
    y = rng.standard_normal((32, 4)).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    head = model.get_layer("head")
    assert np.abs(to_numpy(head.kernel) - base[2]).max() > 1e-3  # it trained
    tuned = to_numpy(model(x))
    adapters.save_adapters(model, tmp_path / "a.npz")
    fresh = base_model(rng)
    for weight, value in zip(fresh.weights, base, strict=True):
        weight.assign(value)
    adapters.load_adapters(fresh, tmp_path / "a.npz")
    np.testing.assert_allclose(to_numpy(fresh(x)), tuned, atol=1e-5)
    if kind != "ia3":  # (IA)³ after a relu does not merge (by design)
        np.testing.assert_allclose(to_numpy(merge(fresh)(x)), tuned, atol=1e-5)
    with pytest.raises(ValueError, match="'head', but it is trained in full"):
        adapt(base_model(rng), kind="cz", layers=["hidden", "head"], train=["head"])


def test_batch_normalization_in_train_keeps_its_moving_statistics(rng, tmp_path):
    """Issue 39, item 4: only gamma and beta were saved; the reload differed
    by 5-8 through the moving mean and variance."""
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, name="hidden"),
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.Dense(2, name="head"),
        ]
    )
    base = [to_numpy(w) for w in model.weights]
    adapt(model, kind="cz_bias", layers=["hidden"], train=["norm", "head"])
    x = (3 + 4 * rng.standard_normal((64, 6))).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, rng.standard_normal((64, 2)), epochs=2, batch_size=16, verbose=0)
    tuned = to_numpy(model(x, training=False))
    path = tmp_path / "bn.npz"
    adapters.save_adapters(model, path)
    with np.load(path) as stored:
        meta = json.loads(str(stored["meta"]))
    assert sorted(meta["state"]) == ["norm/moving_mean", "norm/moving_variance"]
    fresh = keras.models.clone_model(unload(model))
    for weight, value in zip(fresh.weights, base, strict=True):
        weight.assign(value)
    adapters.load_adapters(fresh, path)
    np.testing.assert_allclose(to_numpy(fresh(x, training=False)), tuned, atol=1e-5)
    norm = fresh.get_layer("norm")
    assert not norm.moving_mean.trainable and norm.gamma.trainable


def test_a_refused_load_leaves_the_model_as_it_was(rng, tmp_path):
    """Issue 39, items 5 and 12: a refusal left every base kernel frozen; a
    string-typed array failed after the adapters were put on (PyTorch); int,
    bool and uint8 arrays truncated the weights silently; a malformed meta
    raised KeyError or AttributeError; a file with no adapters froze the
    whole model; a non-model raised AttributeError."""
    model = base_model(rng)
    adapt(model, kind="cz_bias", layers=["hidden"], train=["head"])
    path = tmp_path / "a.npz"
    adapters.save_adapters(model, path)
    with np.load(path) as stored:
        good = {key: stored[key] for key in stored.files}
    meta = json.loads(str(good["meta"]))

    def variant(name, **changes):
        arrays = {**good, **changes}
        np.savez(tmp_path / name, **arrays)
        return tmp_path / name

    def with_meta(name, **fields):
        return variant(name, meta=np.array(json.dumps({**meta, **fields})))

    scale = good["adapters/hidden/scale"]
    entry = meta["adapters"][0]
    cases = [
        (
            variant("str.npz", **{"adapters/hidden/scale": scale.astype(str)}),
            "dtype <U",
        ),
        (
            variant("int.npz", **{"adapters/hidden/scale": scale.astype(int)}),
            "dtype int",
        ),
        (
            variant(
                "b.npz", **{"trained/head/kernel": good["trained/head/kernel"] > 0}
            ),
            "dtype bool",
        ),
        (
            variant("u8.npz", **{"adapters/hidden/scale": scale.astype("uint8")}),
            "dtype uint8",
        ),
        (with_meta("empty.npz", adapters=[]), "holds no adapters"),
        (with_meta("nolist.npz", adapters={"x": 1}), "`adapters` is not a list"),
        (
            with_meta(
                "nokey.npz", adapters=[{k: v for k, v in entry.items() if k != "kind"}]
            ),
            r"mistypes \['kind'\]",
        ),
        (with_meta("seed.npz", adapters=[{**entry, "seed": "4"}]), r"\['seed'\]"),
        (with_meta("trained.npz", trained=[1, 2]), "`trained` is not a mapping"),
        (variant("meta.npz", meta=np.array(json.dumps([1]))), "not a mapping"),
    ]
    for path_, message in cases:
        target = base_model(rng)
        target.get_layer("hidden").kernel.trainable = True
        before = weight_state(target)
        with pytest.raises(ValueError, match=message):
            adapters.load_adapters(target, path_)
        assert weight_state(target) == before, path_.name
        assert not found_adapters(target)
    with pytest.raises(TypeError, match=r"must be a keras\.Model; got str"):
        adapters.load_adapters("notamodel", path)


def test_disabled_adapters_reload_disabled(rng, tmp_path):
    """Issue 39, item 15: adapters disabled when saved reloaded enabled."""
    model = base_model(rng)
    adapt(model, kind="cz", layers=["hidden"])
    randomise_adapters(model, rng)
    x = rng.standard_normal((4, 12)).astype("float32")
    adapters.disable(model)
    base = to_numpy(model(x))
    model.save(tmp_path / "off.keras")
    reloaded = keras.models.load_model(tmp_path / "off.keras")
    np.testing.assert_allclose(to_numpy(reloaded(x)), base, atol=1e-6)
    adapters.enable(reloaded)
    adapters.enable(model)
    np.testing.assert_allclose(to_numpy(reloaded(x)), to_numpy(model(x)), atol=1e-6)
    assert np.abs(to_numpy(model(x)) - base).max() > 1e-3


def test_patterns_that_choose_nothing_are_refused_alike(rng):
    """Issue 39, item 13: regular expressions matching nothing passed
    silently in `train` and `feedforward` (`layers` refused); a pattern that
    matched only layers adapt cannot take said nothing of why."""
    for argument in ("train", "feedforward"):
        model = base_model(rng)
        with pytest.raises(ValueError, match=f"`{argument}`='nothing.*' matches no"):
            adapt(model, kind="ia3", layers=["hidden"], **{argument: "nothing.*"})
        assert not found_adapters(model)
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    model = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(ValueError, match=r"matches 1 layer.*'shared': it is shared"):
        adapt(model, kind="cz", layers="sha.*")


def test_adapter_files_follow_the_umask_and_symlinks(rng, tmp_path):
    """Issue 39, item 11: files were written 0600 whatever the umask
    (np.savez gives 0644), and a symlinked path became a regular file."""
    import os
    import stat

    model = adapt(base_model(rng), kind="cz", layers=["hidden"])
    old = os.umask(0o027)
    try:
        adapters.save_adapters(model, tmp_path / "a.npz")
        assert stat.S_IMODE((tmp_path / "a.npz").stat().st_mode) == 0o640
        os.chmod(tmp_path / "a.npz", 0o604)  # an existing file keeps its mode
        adapters.save_adapters(model, tmp_path / "a.npz")
        assert stat.S_IMODE((tmp_path / "a.npz").stat().st_mode) == 0o604
    finally:
        os.umask(old)
    (tmp_path / "store").mkdir()
    (tmp_path / "link.npz").symlink_to(tmp_path / "store" / "real.npz")
    adapters.save_adapters(model, tmp_path / "link.npz")
    assert (tmp_path / "link.npz").is_symlink()
    assert (tmp_path / "store" / "real.npz").is_file()
    adapters.load_adapters(base_model(rng), tmp_path / "link.npz")


@pytest.mark.parametrize("wrapped", [True, False], ids=["functional", "bare"])
def test_an_adapted_keras_hub_backbone_refuses_a_file_it_cannot_load(
    wrapped, rng, tmp_path
):
    """Issue 39, item 6: a functional model around an adapted keras-hub
    backbone (the docs' "new head on a backbone"), and the bare backbone,
    saved files that did not load ("objects could not be loaded"). The save
    now says why and what to do; merged, the model saves and reloads."""
    keras_hub = pytest.importorskip("keras_hub")
    backbone = tiny_bert(keras_hub)
    model = backbone
    if wrapped:
        inputs = {
            k: keras.Input((None,), dtype="int32", name=k) for k in backbone.input
        }
        pooled = backbone(inputs)["pooled_output"]
        model = keras.Model(inputs, keras.layers.Dense(3, name="head")(pooled))
    adapt(model, kind="cz_bias", train=["head"] if wrapped else None)
    randomise_adapters(model, rng)
    x = bert_inputs(rng)
    tuned = to_numpy(model(x) if wrapped else model(x)["pooled_output"])
    path = tmp_path / "model.keras"
    with pytest.raises(ValueError, match=r"save_adapters.*merge"):
        model.save(path)  # (Keras has opened the file: docs/saving.md, atomic)
    merge(model)
    model.save(path)
    restored = keras.models.load_model(path)
    again = restored(x) if wrapped else restored(x)["pooled_output"]
    np.testing.assert_allclose(to_numpy(again), tuned, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_adapter_files_of_the_previous_layout_load(kind):
    """tests/golden/adapter_files: format-2 files written by 0.4.0-dev before
    the kinds became classes and adapting.py was split (commit 4b8f2a9), on a
    base saved as a .keras file; the loaded model computes what the one that
    saved them did."""
    import pathlib

    folder = pathlib.Path(__file__).parent / "golden" / "adapter_files"
    expected = np.load(folder / "expected.npz")
    base = keras.models.load_model(folder / "base.keras")
    model = adapters.load_adapters(base, folder / f"{kind}.npz")
    assert {a.kind for a in found_adapters(model)} == {kind}
    np.testing.assert_allclose(
        to_numpy(model(expected["inputs"])), expected[kind], rtol=1e-5, atol=1e-5
    )


def test_a_sequential_model_loaded_from_a_file_is_adapted_and_compressed(tmp_path):
    """Keras rebuilds a Sequential model's graph on each layer it gets, on load
    too, leaving its earlier layers with stale calls: they counted as shared,
    so no layer but the last of a loaded Sequential could be adapted or
    compressed."""
    rng = np.random.default_rng(4)
    base_model(rng).save(tmp_path / "base.keras")
    loaded = keras.models.load_model(tmp_path / "base.keras")
    x = rng.standard_normal((32, 12)).astype("float32")
    before = to_numpy(loaded(x))
    adapted = adapt(loaded, kind="cz", layers=["hidden"])
    assert [type(layer).__name__ for layer in adapted.layers] == [
        "DiagonalAdapter",
        "Dense",
    ]
    np.testing.assert_allclose(to_numpy(adapted(x)), before, atol=1e-6)
    teacher = keras.models.load_model(tmp_path / "base.keras")
    student = keras_crosswise.compress(
        teacher, x, into="cz", layers=["hidden"], epochs=0, verbose=0
    )
    assert type(student.get_layer("hidden")).__name__ == "CZDense"
    # A layer called at two places is still refused.
    inputs = keras.Input((12,))
    shared = keras.layers.Dense(12, name="shared")
    twice = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(ValueError, match="shared"):
        adapt(twice, kind="cz", layers=["shared"])
