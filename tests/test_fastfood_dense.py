"""FastfoodDense against a NumPy float64 reference built from explicit matrices."""

import keras
import numpy as np
import pytest

from keras_crosswise.initializers import IdentityDiagonal
from keras_crosswise.layers import FastfoodDense

from layer_checks import JIT, fastfood_reference_kernel, run_layer_checks, to_numpy

# (input features d, units): square, padded input, several blocks, trimmed.
CASES = [(16, 16), (10, 20), (20, 8), (5, 40), (33, 3)]


def layer_reference(layer):
    values = [
        to_numpy(w).astype("float64")
        for w in (layer.signs, layer.permutation, layer.gaussian, layer.scale)
    ]
    values[1] = values[1].astype(int)
    return fastfood_reference_kernel(*values, layer.input_dim)


def random_layer(d, units, rng, **kwargs):
    layer = FastfoodDense(units, seed=int(rng.integers(1000)), **kwargs)
    layer.build((None, d))
    layer.scale.assign(rng.uniform(0.5, 1.5, units).astype("float32"))
    layer.bias.assign(rng.standard_normal(units).astype("float32"))
    return layer


@pytest.mark.parametrize(("d", "units"), CASES)
@pytest.mark.parametrize("leading", [(6,), (2, 3), (2, 1, 2)])
def test_matches_numpy_reference(d, units, leading, rng):
    layer = random_layer(d, units, rng, activation="tanh")
    x = rng.standard_normal((*leading, d))
    expected = np.tanh(x @ layer_reference(layer) + to_numpy(layer.bias))
    np.testing.assert_allclose(
        to_numpy(layer(x.astype("float32"))), expected, atol=2e-5
    )


@pytest.mark.parametrize(("d", "units"), CASES)
def test_to_dense_kernel(d, units, rng):
    layer = random_layer(d, units, rng)
    np.testing.assert_allclose(
        to_numpy(layer.to_dense_kernel()), layer_reference(layer), atol=2e-5
    )


@pytest.mark.parametrize(("d", "units"), [(6, 8), (5, 20)])
def test_sgd_step_matches_finite_differences(d, units, rng):
    """Gradients of all three diagonals through both fwht's and the permutation
    (one block, and three blocks whose permutations are offset)."""
    batch, learning_rate = 5, 0.1
    layer = random_layer(d, units, rng)
    model = keras.Sequential([keras.Input((d,)), layer])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate), loss="mse", jit_compile=JIT
    )
    x = rng.standard_normal((batch, d))
    y = rng.standard_normal((batch, units))
    params = [
        to_numpy(w).astype("float64")
        for w in (layer.signs, layer.gaussian, layer.scale, layer.bias)
    ]
    permutation = to_numpy(layer.permutation).astype(int)

    def loss(signs, gaussian, scale, bias):
        kernel = fastfood_reference_kernel(signs, permutation, gaussian, scale, d)
        return np.mean((x @ kernel + bias - y) ** 2)

    expected = []
    for index, value in enumerate(params):
        grad = np.zeros_like(value)
        for position in np.ndindex(value.shape):
            step = np.zeros_like(value)
            step[position] = 1e-6
            up = [p + step if i == index else p for i, p in enumerate(params)]
            down = [p - step if i == index else p for i, p in enumerate(params)]
            grad[position] = (loss(*up) - loss(*down)) / 2e-6
        expected.append(value - learning_rate * grad)
    model.fit(x.astype("float32"), y.astype("float32"), batch_size=batch, verbose=0)
    for weight, want in zip(
        (layer.signs, layer.gaussian, layer.scale, layer.bias), expected, strict=True
    ):
        np.testing.assert_allclose(to_numpy(weight), want, atol=1e-4)


@pytest.mark.parametrize(("activation", "gain"), [(None, 1.0), ("relu", 2**0.5)])
def test_activation_scale_over_ten_stacked_layers(activation, gain, rng):
    x = rng.standard_normal((512, 256)).astype("float32")
    model = keras.Sequential(
        [keras.Input((256,))]
        + [
            FastfoodDense(
                256,
                activation=activation,
                seed=s,
                scale_initializer=IdentityDiagonal(gain),
            )
            for s in range(10)
        ]
    )
    ratio = np.mean(to_numpy(model(x)) ** 2) / np.mean(x**2)
    assert 0.5 < ratio < 2.0, ratio


@pytest.mark.parametrize(("d", "units"), [(784, 1024), (256, 300), (100, 10)])
def test_parameter_count(d, units):
    layer = FastfoodDense(units)
    layer.build((None, d))
    n = 2 ** int(np.ceil(np.log2(d)))
    blocks = -(-units // n)
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    assert trainable == 2 * blocks * n + 2 * units
    assert trainable < d * units + units or d * units < 3 * n


@pytest.mark.parametrize(
    ("d", "units", "input_shape"),
    [(16, 16, (4, 16)), (10, 20, (4, 3, 10)), (20, 8, (4, 2, 2, 20))],
)
def test_keras_layer_contract(d, units, input_shape, rng, tmp_path):
    n = 2 ** int(np.ceil(np.log2(d)))
    blocks = -(-units // n)

    def factory():
        return FastfoodDense(
            units, activation="relu", seed=2, bias_initializer="random_normal"
        )

    run_layer_checks(
        factory,
        input_shape,
        (*input_shape[:-1], units),
        num_params=3 * blocks * n + 2 * units,  # incl. the int32 permutation
        rng=rng,
        tmp_path=tmp_path,
        trainable_weights=4,  # signs, gaussian, scale, bias
        non_trainable_weights=1,  # the permutation
    )


def test_masking_passes_through(rng):
    inputs = keras.Input((None, 6))
    masked = keras.layers.Masking()(inputs)
    hidden = FastfoodDense(8)(masked)
    assert hidden._keras_mask is not None


def test_global_seeding_reproduces_weights():
    def weights():
        layer = FastfoodDense(12)
        layer.build((None, 7))
        return [to_numpy(w) for w in layer.weights]

    keras.utils.set_random_seed(3)
    first = weights()
    keras.utils.set_random_seed(3)
    for a, b in zip(first, weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"units": 0}, ValueError, "units"),
        ({"units": "3"}, ValueError, "units"),
        ({"units": 2.5}, ValueError, "units"),  # as Dense (Keras's dense_test.py)
        ({"units": None}, ValueError, "units"),
        ({"units": 2**24 + 1}, ValueError, "units"),  # a row over MAX_FEATURES
        ({"units": 3, "activation": "nope"}, ValueError, "activation"),
        ({"units": 3, "seed": 1.5}, TypeError, "seed"),
        ({"units": 3, "scale_initializer": "nope"}, ValueError, "nope"),
        # docs/guide.md promised Dense's kernel_* arguments; refused clearly now
        ({"units": 3, "kernel_initializer": "ones"}, ValueError, "has no kernel"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        FastfoodDense(**kwargs)


def test_bad_input_shape():
    with pytest.raises(ValueError, match="FastfoodDense"):
        FastfoodDense(4).build((None, None))
