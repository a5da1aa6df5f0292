"""The Fastfood initializers: distributions checked against direct sampling."""

import keras
import numpy as np
import pytest
import scipy.stats

from keras_crosswise.initializers import (
    ChiScaling,
    MaternScaling,
    NormalizedGaussian,
    RademacherSigns,
    RandomPermutation,
)

from layer_checks import to_numpy

ALL = [
    RademacherSigns(seed=1),
    ChiScaling(seed=1),
    MaternScaling(t=3, seed=1),
    NormalizedGaussian(seed=1),
    RandomPermutation(seed=1),
]


def test_rademacher_signs():
    values = to_numpy(RademacherSigns(seed=3)((100_000,)))
    assert set(np.unique(values)) == {-1.0, 1.0}
    assert abs(values.mean()) < 0.01


@pytest.mark.parametrize("dof", [4, 1024])
def test_chi_scaling_is_length_of_gaussian_vector(dof, rng):
    values = to_numpy(ChiScaling(seed=2)((4, dof))).ravel()
    direct = np.linalg.norm(rng.standard_normal((4 * dof, dof)), axis=1)
    assert scipy.stats.ks_2samp(values, direct).pvalue > 1e-3
    explicit = to_numpy(ChiScaling(degrees_of_freedom=7, seed=2)((5000,)))
    np.testing.assert_allclose(np.mean(explicit**2), 7, rtol=0.05)


def direct_matern(count, t, dim, rng):
    """||u_1 + ... + u_t||, u_j uniform in the unit ball of R^dim, drawn directly."""
    directions = rng.standard_normal((count, t, dim))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    radii = rng.uniform(size=(count, t, 1)) ** (1 / dim)
    return np.linalg.norm((directions * radii).sum(axis=1), axis=-1)


@pytest.mark.parametrize(("t", "dim"), [(5, 3), (4, 64), (40, 16), (3, 512)])
def test_matern_scaling_matches_direct_sampling(t, dim, rng):
    values = to_numpy(MaternScaling(t=t, seed=4)((4000, dim))[:, 0])
    direct = direct_matern(4000, t, dim, rng)
    assert scipy.stats.ks_2samp(values, direct).pvalue > 1e-3
    # Independent zero-mean u_j: E||sum||^2 = t E||u||^2 = t dim / (dim + 2).
    np.testing.assert_allclose(np.mean(values**2), t * dim / (dim + 2), rtol=0.05)


def test_normalized_gaussian_rows():
    values = to_numpy(NormalizedGaussian(seed=5)((3, 256)))
    np.testing.assert_allclose(np.mean(values**2, axis=1), 1.0, rtol=1e-5)
    assert scipy.stats.normaltest(values.ravel()).pvalue > 1e-3


def test_random_permutation_rows_are_permutations():
    values = to_numpy(RandomPermutation(seed=6)((5, 32)))
    assert values.dtype == np.int32
    for row in values:
        np.testing.assert_array_equal(np.sort(row), np.arange(32))
    assert len({tuple(row) for row in values}) == 5


@pytest.mark.parametrize("initializer", ALL, ids=lambda i: type(i).__name__)
def test_seeded_round_trip(initializer):
    clone = keras.initializers.deserialize(keras.initializers.serialize(initializer))
    assert clone.get_config() == initializer.get_config()
    np.testing.assert_array_equal(
        to_numpy(initializer((4, 8))), to_numpy(clone((4, 8)))
    )


@pytest.mark.parametrize("initializer", ALL, ids=lambda i: type(i).__name__)
def test_unseeded_behaves_like_keras_random_normal(initializer):
    """Like `keras.initializers.RandomNormal()`: the seed is drawn once, at
    creation, from the global seed; every call gives the same values; the
    config keeps `seed=None`."""
    config = {**initializer.get_config(), "seed": None}
    keras_init = keras.initializers.RandomNormal()
    np.testing.assert_array_equal(
        to_numpy(keras_init((4, 8))), to_numpy(keras_init((4, 8)))
    )
    keras.utils.set_random_seed(11)
    fresh = type(initializer).from_config(config)
    first = to_numpy(fresh((4, 8)))
    np.testing.assert_array_equal(first, to_numpy(fresh((4, 8))))
    assert fresh.get_config()["seed"] is None
    keras.utils.set_random_seed(11)
    np.testing.assert_array_equal(
        first, to_numpy(type(initializer).from_config(config)((4, 8)))
    )
    other = to_numpy(type(initializer).from_config(config)((4, 8)))
    assert not np.array_equal(first, other)


def test_bad_arguments():
    with pytest.raises(TypeError, match="seed"):
        RademacherSigns(seed="1")
    with pytest.raises(TypeError, match="seed"):
        RademacherSigns(seed=True)
    with pytest.raises(ValueError, match="t"):
        MaternScaling(t=0)
    with pytest.raises(ValueError, match="degrees_of_freedom"):
        ChiScaling(degrees_of_freedom=-2)
