"""torch.compile(fullgraph=True) captures every layer in one graph, and the
compiled forward and gradients equal eager."""

import keras
import numpy as np

from layer_checks import to_numpy
from model_zoo import INPUT_DIM, build_every_layer_model
from script_runner import runs_on


@runs_on("torch", "torch.compile is PyTorch's")
def test_fullgraph_compile_of_every_layer_equals_eager(rng):
    """One model holds every zoo layer (one compile: each takes seconds);
    `fullgraph=True` raises on any graph break, ours or Keras's."""
    import torch

    torch._dynamo.reset()
    model = build_every_layer_model()
    x = torch.tensor(rng.standard_normal((8, INPUT_DIM)).astype("float32"))

    def outputs_and_gradients(function):
        model.zero_grad()
        outputs = function(x)
        torch.sum(outputs**2).backward()
        gradients = [to_numpy(w.value.grad) for w in model.trainable_weights]
        return to_numpy(outputs), gradients

    eager, eager_gradients = outputs_and_gradients(model)
    # Dynamo's own graphs run as captured ("eager" backend): the inductor code
    # generation takes a minute on this CPU and tests torch, not us.
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    outputs, gradients = outputs_and_gradients(compiled)
    np.testing.assert_allclose(outputs, eager, rtol=1e-5, atol=1e-5)
    assert len(gradients) == len(eager_gradients) > 0
    for gradient, expected in zip(gradients, eager_gradients, strict=True):
        np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-5)


@runs_on("torch", "torch.compile is PyTorch's")
def test_fullgraph_compile_pads_inputs_of_any_width(rng):
    """Widths that need zero padding (Fastfood to a power of two, CZDense's
    last diagonal block): Keras's torch `ops.pad` would break the graph."""
    import torch

    from keras_crosswise.layers import CZDense, FastfoodDense, McKernel

    torch._dynamo.reset()
    model = keras.Sequential(
        [
            keras.Input((100,)),
            FastfoodDense(64, activation="relu", seed=0),  # 100 -> 128
            CZDense(48),  # two blocks of 48 over 64 inputs: 32 zeros
            McKernel(32, seed=1),  # 48 -> 64
            keras.layers.Dense(3),
        ]
    )
    x = torch.tensor(rng.standard_normal((5, 100)).astype("float32"))
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    np.testing.assert_allclose(
        to_numpy(compiled(x)), to_numpy(model(x)), rtol=1e-5, atol=1e-5
    )
