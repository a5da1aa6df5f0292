"""The models the examples and benchmarks compare, as factories."""

import math

import keras
import numpy as np

from keras_crosswise.layers import CZDense, FastfoodDense, McKernel

NUM_CLASSES = 10


def trainable_count(model):
    """Learned parameters; `count_params()` also counts fixed random weights."""
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def parameter_count(layer):
    """Float weights of a layer or model, trainable or not: FastfoodDense's
    fixed integer permutation (a seeded shuffle, not a learned parameter) is
    left out of the compression budgets."""
    return sum(
        int(np.prod(weight.shape))
        for weight in layer.weights
        if "float" in str(weight.dtype)
    )


def saved_for_backward_bytes(loss_of_forward, model):
    """Bytes that eager PyTorch's autograd keeps for the backward of
    `loss_of_forward()` (a training forward of `model` returning a scalar
    loss) beyond `model`'s own weights: the distinct storages its nodes save
    (counted once however many nodes share them), activations and tensors
    made from the weights (keras-hub LoRA's merged kernels); then runs the
    backward. Exact where resident memory is noise (the allocator's arenas
    vary by hundreds of MiB between identical processes)."""
    import torch

    weights = {w.value.untyped_storage().data_ptr() for w in model.weights}
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = loss_of_forward()
    loss.backward()
    return sum(storages.values())


def _sequential(input_dim, *layers):
    return keras.Sequential([keras.Input((input_dim,)), *layers])


def residual_mlp(
    input_dim, width=100, middle=keras.layers.Dense, blocks=1, first=keras.layers.Dense
):
    """The MNIST-1D reference MLP, `h = relu(W1 x); h = h + relu(W2 h); W3 h`,
    with `first` as W1 and `middle` (Dense, CZDense or FastfoodDense) as W2,
    the residual block repeated `blocks` times; 10 logits."""
    inputs = keras.Input((input_dim,))
    hidden = first(width, activation="relu")(inputs)
    for _ in range(blocks):
        residual = middle(width, activation="relu")(hidden)
        hidden = keras.layers.Add()([hidden, residual])
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES)(hidden))


def digits_models(input_dim=64, czdense_kwargs=None):
    """The digits comparison (`scripts/main.sh`): name -> function building a
    fresh model with 10 logits; `czdense_kwargs` go to every CZDense."""
    cz = czdense_kwargs or {}
    dense = keras.layers.Dense

    def stack(*make_layers):
        return lambda: _sequential(input_dim, *(make() for make in make_layers))

    def czdense(units, activation=None):
        return lambda: CZDense(units, activation=activation, **cz)

    return {
        "linear (Dense 10)": stack(lambda: dense(NUM_CLASSES)),
        "Dense 256-256-10": stack(
            lambda: dense(256, activation="relu"),
            lambda: dense(256, activation="relu"),
            lambda: dense(NUM_CLASSES),
        ),
        "CZDense 256-256 + Dense 10": stack(
            czdense(256, "relu"), czdense(256, "relu"), lambda: dense(NUM_CLASSES)
        ),
        "CZDense 256-10 (pure c&z)": stack(czdense(256, "relu"), czdense(NUM_CLASSES)),
        "FastfoodDense 256-256 + Dense 10": stack(
            lambda: FastfoodDense(256, activation="relu"),
            lambda: FastfoodDense(256, activation="relu"),
            lambda: dense(NUM_CLASSES),
        ),
        "McKernel 512 (fixed) + Dense 10": stack(
            lambda: McKernel(512, sigma=4.0), lambda: dense(NUM_CLASSES)
        ),
    }


def mnist1d_models(input_dim=40):
    """The MNIST-1D comparison: name -> function building a fresh model."""
    return {
        "logistic regression": lambda: _sequential(
            input_dim, keras.layers.Dense(NUM_CLASSES)
        ),
        "MLP 100-100 (reference)": lambda: residual_mlp(input_dim),
        "CZDense 400-400-10 (pure c&z)": lambda: _sequential(
            input_dim,
            CZDense(400, activation="relu"),
            CZDense(400, activation="relu"),
            CZDense(NUM_CLASSES),
        ),
        "FastfoodDense 256-256-10": lambda: _sequential(
            input_dim,
            FastfoodDense(256, activation="relu"),
            FastfoodDense(256, activation="relu"),
            FastfoodDense(NUM_CLASSES),
        ),
        "McKernel 1024 (fixed) + linear": lambda: _sequential(
            input_dim,
            McKernel(1024, sigma=math.sqrt(input_dim)),
            keras.layers.Dense(NUM_CLASSES),
        ),
        "MLP 100-100, CZDense middle": lambda: residual_mlp(input_dim, 100, CZDense),
        "MLP 100-100, FastfoodDense middle": lambda: residual_mlp(
            input_dim, 100, FastfoodDense
        ),
    }
