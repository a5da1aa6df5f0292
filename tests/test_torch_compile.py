"""torch.compile: no graph break comes from our code, and compiled equals eager."""

import keras
import numpy as np

from keras_crosswise.adapters import DiagonalAdapter
from keras_crosswise.layers import CZDense, FastfoodDense, McKernel

from layer_checks import to_numpy
from script_runner import runs_on


@runs_on("torch", "torch.compile is PyTorch's")
def test_no_graph_break_in_our_code_and_compiled_equals_eager(rng):
    """One model holds every layer (one compile: each takes seconds)."""
    import torch

    torch._dynamo.reset()
    dense = keras.layers.Dense(32)
    dense.build((None, 64))
    model = keras.Sequential(
        [
            keras.Input((100,)),
            FastfoodDense(64, activation="relu", seed=0),
            CZDense(64, rank=2),
            McKernel(32, seed=1),
            DiagonalAdapter(dense, kind="fastfood", seed=3),
            keras.layers.Dense(3),
        ]
    )
    x = torch.tensor(rng.standard_normal((8, 100)).astype("float32"))
    eager = to_numpy(model(x))
    explanation = torch._dynamo.explain(model)(x)
    ours = [
        str(reason.reason)[:200]
        for reason in explanation.break_reasons
        if any("keras_crosswise" in frame.filename for frame in reason.user_stack)
    ]
    assert not ours, ours
    # Dynamo's own graphs run as captured ("eager" backend): the inductor code
    # generation takes a minute on this CPU and tests torch, not us.
    compiled = torch.compile(model, backend="eager")
    np.testing.assert_allclose(to_numpy(compiled(x)), eager, rtol=1e-5, atol=1e-5)
