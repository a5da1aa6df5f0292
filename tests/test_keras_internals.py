"""What `keras_crosswise._keras_internals` relies on in Keras, pinned: if a Keras
release changes one of these, this fails before compress does."""

import keras
import numpy as np

from keras_crosswise._keras_internals import (
    call_count,
    nested_layers,
    sublayer_attributes,
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
    keras.Model([a, b], [shared(a), shared(b), single(a)])
    assert call_count(shared) == 2 and call_count(single) == 1
    assert call_count(keras.layers.Dense(3)) == 0


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
