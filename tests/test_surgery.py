"""Layer surgery: a copy of a model with chosen layers replaced at any depth,
the original untouched, the copy trainable and reloadable."""

import keras
import numpy as np
import pytest

from keras_crosswise._surgery import copy_with_swaps, find_layers, why_not_swappable
from keras_crosswise._surgery.replaced_sublayers import ReplacedSublayers
from keras_crosswise.layers import CZDense

from layer_checks import to_numpy


@keras.saving.register_keras_serializable(package="test_surgery")
class Residual(keras.layers.Layer):
    """A custom layer that keeps a Dense sublayer as an attribute."""

    def __init__(self, width=8, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.inner = keras.layers.Dense(width, activation="relu")

    def build(self, input_shape):
        self.inner.build(input_shape)

    def call(self, x):
        return x + self.inner(x)

    def get_config(self):
        return {**super().get_config(), "width": self.width}


class Lazy(Residual):
    def build(self, input_shape):
        pass  # its sublayer builds on the first call


def diagonal_dense(dense, rng):
    """Make a square Dense's kernel diagonal: CZDense.from_dense is then exact."""
    dense.kernel.assign(np.diag(rng.standard_normal(dense.units)).astype("float32"))
    return dense


def nested_model(rng, block=Residual):
    inputs = keras.Input((8,))
    hidden = block(name="block")(inputs)
    inner = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8, activation="tanh")], name="inner"
    )
    hidden = inner(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(hidden))
    for dense in find_layers(model, lambda layer: type(layer) is keras.layers.Dense):
        if dense.units == 8:
            diagonal_dense(dense, rng)
    return model


def test_swaps_reach_nested_models_and_custom_layer_attributes(rng, tmp_path):
    model = nested_model(rng)
    before = [to_numpy(w) for w in model.weights]
    x = rng.standard_normal((5, 8)).astype("float32")
    chosen = find_layers(model, lambda layer: type(layer) is keras.layers.Dense)
    chosen = [dense for dense in chosen if dense.units == 8]
    assert len(chosen) == 2  # one in the custom layer, one in the Sequential
    copy = copy_with_swaps(model, {id(d): CZDense.from_dense(d) for d in chosen})
    kinds = [type(layer).__name__ for layer in find_layers(copy, lambda _: True)]
    assert kinds.count("CZDense") == 2 and "ReplacedSublayers" in kinds
    np.testing.assert_allclose(to_numpy(copy(x)), to_numpy(model(x)), atol=1e-5)
    copy.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    copy.fit(x, rng.standard_normal((5, 3)).astype("float32"), verbose=0)
    for old, new in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(old, to_numpy(new))  # the original untouched
    copy.save(tmp_path / "copy.keras")
    restored = keras.models.load_model(tmp_path / "copy.keras")
    assert isinstance(restored.get_layer("block"), ReplacedSublayers)
    np.testing.assert_allclose(to_numpy(restored(x)), to_numpy(copy(x)), atol=1e-6)


def test_an_empty_swap_is_an_exact_copy(rng):
    model = nested_model(rng)
    x = rng.standard_normal((4, 8)).astype("float32")
    copy = copy_with_swaps(model, {})
    np.testing.assert_array_equal(to_numpy(copy(x)), to_numpy(model(x)))
    assert not {id(w) for w in copy.weights} & {id(w) for w in model.weights}


def test_keras_ops_in_the_graph_are_copied_too(rng):
    """keras.ops calls on symbolic tensors (an indexing, a sum, a flip) are
    graph nodes that are not layers, as in keras-hub's backbones."""
    inputs = {"a": keras.Input((8,), name="a"), "b": keras.Input((3, 8), name="b")}
    hidden = inputs["a"] + keras.ops.sum(inputs["b"][:, 1:], axis=1)
    hidden = keras.layers.Dense(8, name="square")(keras.ops.flip(hidden, axis=-1))
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(hidden))
    square = diagonal_dense(model.get_layer("square"), rng)
    x = {
        "a": rng.standard_normal((4, 8)).astype("float32"),
        "b": rng.standard_normal((4, 3, 8)).astype("float32"),
    }
    copy = copy_with_swaps(model, {id(square): CZDense.from_dense(square)})
    assert isinstance(copy.get_layer("square"), CZDense)
    np.testing.assert_allclose(to_numpy(copy(x)), to_numpy(model(x)), atol=1e-5)


def test_keras_hub_encoder_stack_feed_forward_is_swapped_and_reloads(rng, tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    inputs = keras.Input((6, 8))
    hidden = keras_hub.layers.TransformerEncoder(16, num_heads=2)(inputs)
    hidden = keras_hub.layers.TransformerEncoder(16, num_heads=2)(hidden)
    pooled = keras.layers.GlobalAveragePooling1D()(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3)(pooled))
    x = rng.standard_normal((2, 6, 8)).astype("float32")
    feed_forward = find_layers(
        model, lambda layer: type(layer) is keras.layers.Dense and layer.units == 16
    )
    assert len(feed_forward) == 2
    copy = copy_with_swaps(model, {id(d): CZDense.from_dense(d) for d in feed_forward})
    assert len(find_layers(copy, lambda layer: isinstance(layer, CZDense))) == 2
    copy.save(tmp_path / "encoders.keras")
    restored = keras.models.load_model(tmp_path / "encoders.keras")
    np.testing.assert_allclose(to_numpy(restored(x)), to_numpy(copy(x)), atol=1e-5)


def test_shared_and_unreachable_layers_are_refused_clearly(rng):
    shared = keras.layers.Dense(4)
    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], keras.layers.Add()([shared(a), shared(b)]))
    assert "shared" in why_not_swappable(model, shared)
    lazy = nested_model(rng, block=Lazy)
    inner = lazy.get_layer("block").inner
    with pytest.raises(ValueError, match=r"on its first call, not in `build\(\)`"):
        copy_with_swaps(lazy, {id(inner): CZDense.from_dense(inner)})


@keras.saving.register_keras_serializable(package="keras_crosswise_tests")
class DenseCell(keras.layers.Layer):
    """A recurrent cell whose step is a Dense on [input, state]."""

    def __init__(self, units=8, **kwargs):
        super().__init__(**kwargs)
        self.units, self.state_size = units, units
        self.dense = keras.layers.Dense(units, activation="tanh", name="cell_dense")

    def build(self, input_shape):
        self.dense.build((None, input_shape[-1] + self.units))

    def call(self, inputs, states):
        hidden = self.dense(keras.ops.concatenate([inputs, states[0]], axis=-1))
        return hidden, [hidden]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def looping_models():
    """Models whose Dense sits inside a TimeDistributed, an RNN or a
    Bidirectional, beside a plain Dense (`head`), and the inner Dense's name."""
    inputs = keras.Input((5, 16))
    inner = keras.layers.Dense(64, name="per_step")
    per_step = keras.layers.TimeDistributed(inner)(inputs)
    hidden = keras.layers.Dense(64, name="hidden")(keras.layers.Flatten()(per_step))
    yield keras.Model(inputs, keras.layers.Dense(3)(hidden)), "per_step"
    for wrap in (lambda r: r, keras.layers.Bidirectional):
        inputs = keras.Input((5, 16))
        recurrent = wrap(keras.layers.RNN(DenseCell(32)))(inputs)
        hidden = keras.layers.Dense(64, name="hidden")(recurrent)
        yield keras.Model(inputs, keras.layers.Dense(3)(hidden)), "cell_dense"


@pytest.mark.parametrize("index", range(3), ids=["time_distributed", "rnn", "bidi"])
@pytest.mark.parametrize("operation", ["compress", "adapt"])
def test_layers_inside_looping_wrappers_are_refused_clearly(index, operation, rng):
    # compress failed in its input recorder (TimeDistributed) and with "RNN
    # cell should have a `state_size`"; adapt failed on the cells too.
    from keras_crosswise import adapters, compress

    model, inner = list(looping_models())[index]
    x = rng.standard_normal((16, 5, 16)).astype("float32")
    run = {
        "compress": lambda m, **k: compress(
            m, x, epochs=0, layer_epochs=0, verbose=0, **k
        ),
        "adapt": lambda m, **k: adapters.adapt(m, **k),
    }[operation]
    with pytest.raises(ValueError, match=r"inside the (TimeDistributed|RNN|Bidir)"):
        run(model, layers=[inner])
    expected = to_numpy(model(x))
    result = run(model, layers=["hidden"])  # the rest of the model still works
    if operation == "adapt":
        np.testing.assert_allclose(to_numpy(result(x)), expected, atol=1e-5)
    else:
        assert type(result.get_layer("hidden")).__name__ == "FastfoodDense"
        assert result.predict(x, verbose=0).shape == expected.shape


def test_compressing_an_adapted_model_is_refused_clearly(rng):
    # It failed with a deserialization TypeError.
    from keras_crosswise import adapters, compress

    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(64), keras.layers.Dense(3)]
    )
    adapters.adapt(model, layers=[model.layers[0].name])
    x = rng.standard_normal((8, 16)).astype("float32")
    with pytest.raises(ValueError, match=r"holds 1 adapter.*merge"):
        compress(model, x, epochs=0, layer_epochs=0, verbose=0)


def test_a_file_saved_before_the_move_still_loads():
    """tests/golden/surgery: a model with a ReplacedSublayers wrapper saved
    when the class lived in `keras_crosswise.layers.replaced_sublayers`; it
    loads by its registered name from `keras_crosswise._surgery`."""
    import json
    import pathlib
    import zipfile

    folder = pathlib.Path(__file__).parent / "golden" / "surgery"
    with zipfile.ZipFile(folder / "ReplacedSublayers.keras") as saved:
        config = json.loads(saved.read("config.json"))
    (block,) = [e for e in config["config"]["layers"] if e["name"] == "block"]
    assert block["module"] == "keras_crosswise.layers.replaced_sublayers"
    model = keras.models.load_model(folder / "ReplacedSublayers.keras")
    assert isinstance(model.get_layer("block"), ReplacedSublayers)
    stored = np.load(folder / "ReplacedSublayers.npz")
    np.testing.assert_allclose(
        to_numpy(model(stored["inputs"])), stored["outputs"], atol=1e-5
    )
