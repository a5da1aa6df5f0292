"""Initializers and regularizers for diagonal weights."""

import keras
import numpy as np
import pytest

from keras_crosswise.initializers import DiagonalVarianceScaling, IdentityDiagonal
from keras_crosswise.layers import CZDense
from keras_crosswise.regularizers import IdentityL2

from layer_checks import to_numpy


@pytest.mark.parametrize(
    "distribution", ["truncated_normal", "untruncated_normal", "uniform"]
)
@pytest.mark.parametrize(("gain", "fan_in"), [(2.0, 1.0), (1.0, 4.0)])
def test_variance_scaling_second_moment(distribution, gain, fan_in):
    values = to_numpy(
        DiagonalVarianceScaling(gain, fan_in, distribution, seed=7)(shape=(200_000,))
    )
    assert abs(values.mean()) < 0.01
    np.testing.assert_allclose(np.mean(values**2), gain / fan_in, rtol=0.03)


@pytest.mark.parametrize(("gain", "activation"), [(1.0, None), (2.0, "relu")])
def test_variance_scaling_keeps_second_moment_of_activations(gain, activation, rng):
    """E[y^2] = E[x^2] for a linear layer with gain 1 and a ReLU one with gain 2."""
    x = rng.standard_normal((256, 8192)).astype("float32")
    layer = CZDense(
        8192,
        activation=activation,
        use_bias=False,
        kernel_initializer=DiagonalVarianceScaling(gain, seed=5),
    )
    ratio = np.mean(to_numpy(layer(x)) ** 2) / np.mean(x**2)
    np.testing.assert_allclose(ratio, 1.0, rtol=0.1)


def test_variance_scaling_is_seeded_and_serializable():
    init = DiagonalVarianceScaling(gain=2.0, distribution="uniform", seed=11)
    clone = keras.initializers.deserialize(keras.initializers.serialize(init))
    np.testing.assert_array_equal(to_numpy(init((32,))), to_numpy(clone((32,))))
    assert clone.get_config() == init.get_config()
    with pytest.raises(ValueError, match="fan_in"):
        DiagonalVarianceScaling(fan_in=0)
    with pytest.raises(ValueError, match="distribution"):
        DiagonalVarianceScaling(distribution="cauchy")
    with pytest.raises(TypeError, match="gain"):
        DiagonalVarianceScaling(gain="2")


def test_truncated_normal_stays_within_two_standard_deviations():
    values = to_numpy(DiagonalVarianceScaling(2.0, seed=3)(shape=(50_000,)))
    bound = 2 * np.sqrt(2.0) / 0.87962566103423978
    assert np.abs(values).max() <= bound + 1e-6
    assert np.abs(values).max() > 0.99 * bound


@pytest.mark.parametrize(
    ("factory", "name"),
    [
        (lambda v: IdentityL2(l2=v), "l2"),
        (lambda v: IdentityL2(target=v), "target"),
        (lambda v: IdentityDiagonal(gain=v), "gain"),
        (lambda v: DiagonalVarianceScaling(gain=v), "gain"),
        (lambda v: DiagonalVarianceScaling(fan_in=v), "fan_in"),
    ],
)
def test_numpy_scalars_accepted_bools_and_strings_refused(factory, name):
    for scalar in (np.float32(2.0), np.float16(2.0), np.int64(2)):
        config = factory(scalar).get_config()
        assert config[name] == 2.0 and type(config[name]) is float
    for bad in (True, "2", None):
        with pytest.raises(TypeError, match=name):
            factory(bad)
    with pytest.raises(ValueError, match=name):
        factory(float("nan"))


def test_identity_diagonal_makes_square_layer_identity(rng):
    init = IdentityDiagonal(gain=1.5)
    np.testing.assert_array_equal(to_numpy(init((4,))), np.full(4, 1.5))
    layer = CZDense(6, kernel_initializer=IdentityDiagonal(), use_bias=False)
    x = rng.standard_normal((3, 6)).astype("float32")
    np.testing.assert_allclose(to_numpy(layer(x)), x)
    clone = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert clone.get_config() == {"gain": 1.5}


def test_identity_l2_value_and_config(rng):
    weights = rng.standard_normal(10)
    penalty = to_numpy(IdentityL2(0.3)(keras.ops.convert_to_tensor(weights)))
    np.testing.assert_allclose(penalty, 0.3 * np.sum((weights - 1.0) ** 2), rtol=1e-5)
    clone = keras.regularizers.deserialize(
        keras.regularizers.serialize(IdentityL2(2.0))
    )
    assert clone.get_config() == {"l2": 2.0, "target": 1.0}
    with pytest.raises(ValueError, match="l2"):
        IdentityL2(-1.0)


def test_identity_l2_adds_layer_loss(rng):
    layer = CZDense(4, kernel_regularizer=IdentityL2(0.5))
    layer(rng.standard_normal((2, 4)).astype("float32"))
    kernel = to_numpy(layer.kernel)
    np.testing.assert_allclose(
        to_numpy(layer.losses[0]), 0.5 * np.sum((kernel - 1.0) ** 2), rtol=1e-5
    )
