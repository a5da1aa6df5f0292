"""The benchmark harness: equal-budget baselines, their verdict, the data."""

import keras
import numpy as np
import pytest

from benchmarks.harness import load_friedman1, trainable_count
from benchmarks.harness.baselines import (
    low_rank_pair,
    verdict,
    widest_size,
    widest_within,
)

pytestmark = pytest.mark.backend_independent


def mlp(width):
    return keras.Sequential(
        [
            keras.Input((30,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(3),
        ]
    )


@pytest.mark.parametrize("budget", [1, 36, 37, 500, 3_333])
def test_widest_size_is_the_largest_width_within_the_budget(budget):
    # An MLP 30 -> w -> 3 has 34 w + 3 trainable parameters.
    expected = max(0, min(200, (budget - 3) // 34))
    assert widest_size(mlp, budget, high=200) == expected


def test_counting_leaves_no_weight_waiting_for_initialisation():
    from keras.src.backend.common import global_state

    assert widest_size(mlp, 10_000, high=512) == 294
    assert not global_state.get_global_attribute("uninitialized_variables", [])
    model = widest_within(mlp, 34 * 7 + 3)
    assert trainable_count(model) == 34 * 7 + 3
    kernel = model.get_weights()[0]
    assert kernel.shape == (30, 7) and np.std(kernel) > 0.01  # drawn, not zeros


def test_low_rank_pair_has_the_rank_and_count_it_promises():
    pair = low_rank_pair(2, 7, input_dim=5)
    assert trainable_count(pair) == 2 * (5 + 7) + 7
    x = np.random.default_rng(0).standard_normal((9, 5)).astype("float32")
    kernel = pair.layers[0].get_weights()[0] @ pair.layers[1].get_weights()[0]
    assert np.linalg.matrix_rank(kernel) == 2
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(pair(x)), x @ kernel, rtol=1e-5, atol=1e-5
    )


def test_verdict_calls_beyond_the_larger_std():
    ours = {"ours": {"trainable": 100, "r2_mean": 0.8, "r2_std": 0.01}}
    baselines = {
        "better": {"trainable": 99, "r2_mean": 0.9, "r2_std": 0.02},
        "close": {"trainable": 98, "r2_mean": 0.79, "r2_std": 0.02},
        "worse": {"trainable": 97, "r2_mean": 0.7, "r2_std": 0.05},
    }
    rows = verdict(ours, baselines, {"ours": list(baselines)}, metric="r2")
    assert [row[-1] for row in rows] == ["loss", "tie", "win"]
    assert [row[-2] for row in rows] == ["-10.0", "+1.0", "+10.0"]


def test_friedman1_is_standardised_on_the_training_split():
    x_train, x_test, y_train, y_test = load_friedman1(12, num_train=400, num_test=50)
    assert x_train.shape == (400, 12) and x_test.shape == (50, 12)
    assert y_train.shape == (400, 1) and y_test.shape == (50, 1)
    assert x_train.dtype == y_train.dtype == np.float32
    np.testing.assert_allclose(x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(y_train.std(), 1, rtol=1e-4)
    assert abs(float(y_test.mean())) < 0.5  # the test split is not re-centred
