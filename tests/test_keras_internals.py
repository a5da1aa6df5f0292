"""What `keras_crosswise._keras_internals` relies on in Keras, pinned: if a Keras
release changes one of these, this fails before compress does."""

import keras
import numpy as np
import pytest

from keras_crosswise._keras_internals import (
    KERAS_STEP_FUNCTIONS,
    call_count,
    child_layers,
    forget_compiled_functions,
    graph_call_count,
    is_plain_functional,
    nested_layers,
    refresh_torch_parameters,
    sublayer_attributes,
    swap_graph_operation,
    swap_tracked_sublayer,
    uncompiled,
)


class Block(keras.layers.Layer):
    """A custom layer that keeps a Dense sublayer as an attribute."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(4, name="inner")

    def call(self, x):
        return self.inner(x)


def test_nested_layers_reaches_nested_models_and_custom_sublayers():
    inner_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
    inputs = keras.Input((4,))
    block = Block()
    outputs = keras.layers.Dense(2)(inner_model(block(inputs)))
    model = keras.Model(inputs, outputs)
    found = nested_layers(model)
    assert found[0] is model
    assert block in found and block.inner in found
    assert inner_model in found and inner_model.layers[0] in found
    assert block.inner not in model.layers  # what the public `layers` misses


def test_call_count_counts_the_places_a_layer_is_called():
    shared, single = keras.layers.Dense(3), keras.layers.Dense(3)
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], [shared(a), shared(b), single(a)])
    assert call_count(shared) == 2 and call_count(single) == 1
    assert call_count(keras.layers.Dense(3)) == 0
    assert graph_call_count(model, shared) == 2
    assert graph_call_count(model, single) == 1
    block = Block()
    keras.Sequential([keras.Input((4,)), block])
    assert graph_call_count(model, block.inner) is None  # no node of this graph


def test_a_loaded_sequential_keeps_stale_calls_its_graph_does_not_hold(tmp_path):
    keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4, name="a"), keras.layers.Dense(2)]
    ).save(tmp_path / "s.keras")
    loaded = keras.models.load_model(tmp_path / "s.keras")
    first = loaded.get_layer("a")
    assert call_count(first) > 1  # Keras rebuilt the graph per layer on load
    assert graph_call_count(loaded, first) == 1


def test_uncompiled_keeps_clone_model_from_compiling_the_copy():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)
    assert keras.models.clone_model(model).compiled  # what Keras does
    with uncompiled(model):
        copy = keras.models.clone_model(model)
    assert not copy.compiled and model.compiled


def test_sublayer_attributes_and_swapping_one_keep_the_weights_in_order():
    block = Block()
    block.build((None, 4))
    assert sublayer_attributes(block) == {"inner": block.inner}
    new = keras.layers.Dense(4, name="new")
    new.build((None, 4))
    old = block.inner
    swap_tracked_sublayer(block, "inner", old, new)
    assert block.inner is new and sublayer_attributes(block) == {"inner": new}
    assert [id(w) for w in block.weights] == [id(w) for w in new.weights]


def _functional(rng):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
    x = rng.standard_normal((3, 4)).astype("float32")
    return model, x


def test_swap_graph_operation_rewires_functional_and_sequential_models(tmp_path):
    rng = np.random.default_rng(0)
    functional, x = _functional(rng)
    sequential = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(2)]
    )
    for model in (functional, sequential):
        old = model.get_layer("hidden")
        new = keras.layers.Dense(4, name="hidden")
        new.build((None, 4))
        new.set_weights([2 * w for w in old.get_weights()])
        expected = model.layers[-1](new(x)) if model is sequential else None
        swap_graph_operation(model, old, new)
        # The layer list, the graph's operations, the call and the config
        # all see the new layer, with the old one's connections.
        assert model.get_layer("hidden") is new and old not in model.layers
        assert not old._inbound_nodes and new._inbound_nodes
        if expected is not None:
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(model(x)),
                keras.ops.convert_to_numpy(expected),
                rtol=1e-6,
            )
        model.save(tmp_path / "swapped.keras")
        restored = keras.models.load_model(tmp_path / "swapped.keras")
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(restored(x)),
            keras.ops.convert_to_numpy(model(x)),
            rtol=1e-6,
        )


def test_child_layers_and_plain_functional():
    model, _ = _functional(np.random.default_rng(1))
    assert [layer.name for layer in child_layers(model)][-2:] == ["hidden", "head"]
    block = Block()
    block.build((None, 4))
    assert child_layers(block) == [block.inner]
    assert is_plain_functional(model)
    assert not is_plain_functional(keras.Sequential([keras.Input((4,))]))

    class Sub(keras.Model):
        pass

    assert not is_plain_functional(Sub(model.inputs, model.outputs))


def test_forget_compiled_functions_makes_keras_trace_and_compile_again():
    model, x = _functional(np.random.default_rng(2))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((3, 2), "float32"), verbose=0)
    model.predict(x, verbose=0)
    assert model.train_function is not None and model.predict_function is not None
    forget_compiled_functions(model)
    assert model.train_function is None and model.predict_function is None
    assert model.compiled
    forget_compiled_functions(model, uncompile=True)
    assert not model.compiled
    model.compile(optimizer="sgd", loss="mse")  # and it compiles and fits again
    model.fit(x, np.zeros((3, 2), "float32"), verbose=0)


def test_refresh_torch_parameters_lists_new_sublayers():
    block = Block()
    block.build((None, 4))
    new = keras.layers.Dense(4, name="new")
    new.build((None, 4))
    swap_tracked_sublayer(block, "inner", block.inner, new)
    refresh_torch_parameters([block])
    if keras.backend.backend() == "torch":
        listed = {id(p) for p in block.parameters()}
        assert {id(w.value) for w in new.weights} <= listed


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow's trainer"
)
def test_keras_step_functions_name_the_graphs_of_fit_evaluate_predict():
    from keras_crosswise._backend_internals import tensorflow_trace

    traces = []

    class Record(keras.layers.Layer):
        def call(self, x):
            traces.append(tensorflow_trace())
            return x * 2.0

    model = keras.Sequential([keras.Input((3,)), Record(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    for run in (
        lambda: model.fit(x, y, verbose=0),
        lambda: model.evaluate(x, y, verbose=0),
        lambda: model.predict(x, verbose=0),
        lambda: model.train_on_batch(x, y),
        lambda: model.predict_on_batch(x),
    ):
        traces.clear()
        run()
        assert traces, "nothing traced"
        for where in traces:
            assert isinstance(where, tuple), where
            assert KERAS_STEP_FUNCTIONS & set(where), where
