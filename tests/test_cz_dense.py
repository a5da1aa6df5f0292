"""CZDense against an independent NumPy float64 reference, and its Keras surface."""

import keras
import numpy as np
import pytest

from keras_crosswise.initializers import DiagonalVarianceScaling
from keras_crosswise.layers import CZDense

from layer_checks import JIT, run_layer_checks, to_numpy

# (input features n, units): square, vertical blocks, horizontal blocks, with
# and without a partial last block.
CASES = [(6, 6), (4, 8), (4, 10), (12, 4), (10, 4), (7, 3), (1, 5), (5, 1)]


def reference_dense_kernel(diagonal, n, units):
    """W_hat transposed, built entry by entry from the paper's definition."""
    kernel = np.zeros((n, units))
    if units >= n:  # ceil(units / n) diagonal blocks stacked vertically
        for out in range(units):
            kernel[out % n, out] = diagonal[out]
    else:  # ceil(n / units) diagonal blocks side by side
        for inp in range(n):
            kernel[inp, inp % units] = diagonal[inp]
    return kernel


def random_layer(n, units, rng, **kwargs):
    layer = CZDense(units, **kwargs)
    layer.build((None, n))
    layer.kernel.assign(rng.standard_normal(layer.kernel.shape).astype("float32"))
    if layer.bias is not None:
        layer.bias.assign(rng.standard_normal(units).astype("float32"))
    return layer


@pytest.mark.parametrize(("n", "units"), CASES)
@pytest.mark.parametrize("leading", [(5,), (2, 3), (2, 1, 3)])
def test_matches_numpy_reference(n, units, leading, rng):
    layer = random_layer(n, units, rng, activation="tanh")
    x = rng.standard_normal((*leading, n))
    kernel = reference_dense_kernel(to_numpy(layer.kernel).astype("float64"), n, units)
    expected = np.tanh(x @ kernel + to_numpy(layer.bias))
    np.testing.assert_allclose(
        to_numpy(layer(x.astype("float32"))), expected, atol=1e-5
    )


@pytest.mark.parametrize(("n", "units"), CASES)
def test_to_dense_kernel_is_the_equivalent_dense_layer(n, units, rng):
    layer = random_layer(n, units, rng)
    kernel = to_numpy(layer.to_dense_kernel())
    assert kernel.shape == (n, units)
    reference = reference_dense_kernel(to_numpy(layer.kernel), n, units)
    np.testing.assert_array_equal(kernel, reference)
    dense = keras.layers.Dense(units)
    dense.build((None, n))
    dense.set_weights([kernel, to_numpy(layer.bias)])
    x = rng.standard_normal((9, n)).astype("float32")
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(dense(x)), atol=1e-5)


@pytest.mark.parametrize(("n", "units"), CASES)
def test_weight_count_is_max_of_features_and_units(n, units):
    layer = CZDense(units)
    layer.build((None, n))
    assert layer.kernel.shape == (max(n, units),)
    assert layer.count_params() == max(n, units) + units


@pytest.mark.parametrize(("n", "units"), [(6, 6), (4, 10), (10, 4)])
def test_sgd_step_matches_the_dense_gradient(n, units, rng):
    """One SGD step moves each diagonal weight by the dense gradient at its slot."""
    layer = random_layer(n, units, rng)
    kernel0, bias0 = to_numpy(layer.kernel), to_numpy(layer.bias)
    model = keras.Sequential([keras.Input((n,)), layer])
    learning_rate, batch = 0.05, 16
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate), loss="mse", jit_compile=JIT
    )
    x = rng.standard_normal((batch, n))
    y = rng.standard_normal((batch, units))
    model.fit(x.astype("float32"), y.astype("float32"), batch_size=batch, verbose=0)

    dense_kernel = reference_dense_kernel(kernel0.astype("float64"), n, units)
    grad_out = 2.0 * (x @ dense_kernel + bias0 - y) / (batch * units)
    grad_dense = x.T @ grad_out
    slots = np.arange(max(n, units))
    grad_diagonal = grad_dense[slots % n, slots % units]
    np.testing.assert_allclose(
        to_numpy(layer.kernel), kernel0 - learning_rate * grad_diagonal, atol=1e-5
    )
    np.testing.assert_allclose(
        to_numpy(layer.bias), bias0 - learning_rate * grad_out.sum(0), atol=1e-5
    )


@pytest.mark.parametrize(
    ("n", "units", "input_shape", "rank"),
    [
        (8, 8, (4, 8), None),
        (4, 10, (4, 3, 4), None),
        (10, 4, (4, 2, 3, 10), None),
        (7, 3, (4, 7), None),
        (8, 8, (4, 8), 2),
        (10, 4, (4, 2, 3, 10), 2),
    ],
)
def test_keras_layer_contract(n, units, input_shape, rank, rng, tmp_path):
    def factory():
        return CZDense(
            units,
            activation="relu",
            kernel_initializer=DiagonalVarianceScaling(gain=2.0, seed=3),
            bias_initializer="random_normal",
            rank=rank,
            low_rank_initializer=keras.initializers.GlorotUniform(seed=4),
            low_rank_regularizer="l2",
        )

    low_rank = 0 if rank is None else rank * (n + units)
    run_layer_checks(
        factory,
        input_shape,
        (*input_shape[:-1], units),
        num_params=max(n, units) + units + low_rank,
        rng=rng,
        tmp_path=tmp_path,
        trainable_weights=2 if rank is None else 4,  # kernel, bias (+ u, v)
        non_trainable_weights=0,
    )


def test_no_bias_and_default_identity_start(rng):
    layer = CZDense(5, use_bias=False)
    x = rng.standard_normal((3, 5)).astype("float32")
    np.testing.assert_allclose(to_numpy(layer(x)), x)
    assert layer.bias is None and len(layer.weights) == 1


def test_works_in_functional_model_with_mask(rng):
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(20, 6, mask_zero=True)(inputs)
    hidden = CZDense(12, activation="relu")(embedded)
    outputs = keras.layers.GlobalAveragePooling1D()(hidden)
    model = keras.Model(inputs, outputs)
    tokens = rng.integers(1, 20, size=(4, 7))
    tokens[:, 5:] = 0
    assert hidden._keras_mask is not None
    full = to_numpy(model(tokens))
    trimmed = to_numpy(model(tokens[:, :5]))
    np.testing.assert_allclose(full, trimmed, atol=1e-5)


@pytest.mark.parametrize(
    ("units", "error"),
    [
        (0, ValueError),
        (-3, ValueError),
        # ValueError for every one, as keras.layers.Dense raises (dense_test.py)
        (2.5, ValueError),
        ("8", ValueError),
        (True, ValueError),
        (None, ValueError),
    ],
)
def test_bad_units(units, error):
    with pytest.raises(error, match="units"):
        CZDense(units)


def test_bad_activation():
    with pytest.raises(ValueError, match="activation"):
        CZDense(4, activation="no_such_activation")


@pytest.mark.parametrize("shape", [(8,), (None, None)])
def test_bad_input_shapes(shape):
    with pytest.raises(ValueError, match="CZDense"):
        CZDense(4).build(shape)


def test_input_of_wrong_width_after_build(rng):
    layer = CZDense(4)
    layer(rng.standard_normal((2, 6)).astype("float32"))
    with pytest.raises(ValueError, match="axis -1"):
        layer(rng.standard_normal((2, 5)).astype("float32"))


def test_to_dense_kernel_before_build():
    with pytest.raises(ValueError, match="built"):
        CZDense(4).to_dense_kernel()


def random_low_rank_layer(n, units, rank, rng, **kwargs):
    layer = random_layer(n, units, rng, rank=rank, **kwargs)
    for weight in (layer.low_rank_down, layer.low_rank_up):
        weight.assign(rng.standard_normal(weight.shape).astype("float32"))
    return layer


@pytest.mark.parametrize(("n", "units"), CASES)
@pytest.mark.parametrize("rank", [1, 3])
def test_low_rank_term_matches_numpy_reference(n, units, rank, rng):
    layer = random_low_rank_layer(n, units, rank, rng, activation="tanh")
    diagonal, down, up, bias = (
        to_numpy(layer.kernel).astype("float64"),
        to_numpy(layer.low_rank_down).astype("float64"),
        to_numpy(layer.low_rank_up).astype("float64"),
        to_numpy(layer.bias).astype("float64"),
    )
    assert down.shape == (n, rank) and up.shape == (rank, units)
    kernel = reference_dense_kernel(diagonal, n, units) + down @ up
    x = rng.standard_normal((2, 5, n))
    expected = np.tanh(x @ kernel + bias)
    np.testing.assert_allclose(
        to_numpy(layer(x.astype("float32"))), expected, atol=1e-4
    )
    np.testing.assert_allclose(to_numpy(layer.to_dense_kernel()), kernel, atol=1e-5)


def test_rank_in_config_and_default_off():
    assert CZDense(4).get_config()["rank"] is None
    layer = CZDense.from_config(CZDense(4, rank=3).get_config())
    assert layer.rank == 3
    layer.build((None, 6))
    assert [w.name for w in layer.weights] == [
        "kernel",
        "low_rank_down",
        "low_rank_up",
        "bias",
    ]
    # Two regularised factors, two losses.
    regularised = CZDense(4, rank=1, low_rank_regularizer="l2")
    regularised.build((None, 6))
    assert len(regularised.losses) == 2


@pytest.mark.parametrize(
    ("rank", "error"),
    [
        (0, ValueError),
        (-2, ValueError),
        (1.5, ValueError),
        ("2", ValueError),
        (True, ValueError),
    ],
)
def test_bad_rank(rank, error):
    with pytest.raises(error, match="rank"):
        CZDense(4, rank=rank)
