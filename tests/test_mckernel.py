"""McKernel features against exact kernels, RBFSampler and their own construction."""

import keras
import numpy as np
import pytest
from sklearn.kernel_approximation import RBFSampler

from keras_crosswise.layers import McKernel

from layer_checks import check_mixed_precision, run_layer_checks, to_numpy

DIM, SIGMA = 16, 4.0  # ||x - y||^2 / (2 sigma^2) is about 1 for N(0, I_16) data


def gaussian_gram(x, sigma=SIGMA):
    squared = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    return np.exp(-squared / (2 * sigma**2))


def relative_error(approx, exact):
    return np.linalg.norm(approx - exact) / np.linalg.norm(exact)


def features(layer, x):
    return to_numpy(layer(x.astype("float32"))).astype("float64")


@pytest.fixture
def data(rng):
    return rng.standard_normal((120, DIM))


def test_gaussian_error_shrinks_like_inverse_sqrt_and_matches_rbf_sampler(data):
    exact = gaussian_gram(data)
    sizes = [256, 1024, 4096, 16384]
    ours, theirs = [], []
    for size in sizes:
        z = features(McKernel(size, sigma=SIGMA, seed=size), data)
        ours.append(relative_error(z @ z.T, exact))
        sampler = RBFSampler(
            gamma=1 / (2 * SIGMA**2), n_components=2 * size, random_state=size
        )
        z_ref = sampler.fit_transform(data)
        theirs.append(relative_error(z_ref @ z_ref.T, exact))
    slope = np.polyfit(np.log(sizes), np.log(ours), 1)[0]
    assert -0.75 < slope < -0.3, (ours, slope)
    # Same number of output columns; Fastfood's structured blocks cost a little.
    assert all(a < 1.6 * b for a, b in zip(ours, theirs, strict=True)), (ours, theirs)


def test_matern_features_are_a_stationary_unit_kernel(data, rng):
    layer = McKernel(2048, kernel="matern", sigma=SIGMA, matern_t=5, seed=3)
    z = features(layer, data)
    gram = z @ z.T
    np.testing.assert_allclose(np.diag(gram), 1.0, atol=1e-5)
    assert np.linalg.eigvalsh(gram).min() > -1e-6
    shift = rng.standard_normal(DIM)
    z_shifted = features(layer, data + shift)
    np.testing.assert_allclose(z_shifted @ z_shifted.T, gram, atol=2e-4)


def matern_monte_carlo(deltas, dim, t, sigma, rng, samples=200_000):
    """E[cos(w . delta)] with w = (u_1 + ... + u_t) / sigma, u_j uniform in the
    unit ball of R^dim, drawn directly (the construction, not the layer)."""
    directions = rng.standard_normal((samples, t, dim))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    radii = rng.uniform(size=(samples, t, 1)) ** (1 / dim)
    frequencies = (directions * radii).sum(axis=1) / sigma
    return np.cos(deltas @ frequencies.T).mean(axis=1)


def test_matern_matches_monte_carlo_of_its_spectral_construction(rng):
    sigma, t = 1.0, 5
    x = rng.standard_normal((40, DIM)) * 0.7
    layer = McKernel(16384, kernel="matern", sigma=sigma, matern_t=t, seed=9)
    z = features(layer, x)
    pairs = rng.integers(0, 40, size=(60, 2))
    approx = np.sum(z[pairs[:, 0]] * z[pairs[:, 1]], axis=1)
    deltas = x[pairs[:, 0]] - x[pairs[:, 1]]
    expected = matern_monte_carlo(deltas, DIM, t, sigma, rng)
    assert np.ptp(expected) > 0.3  # the pairs span a range of kernel values
    np.testing.assert_allclose(approx, expected, atol=0.04)


def test_gaussian_frequencies_have_chi_lengths(rng):
    """Rows of Z_hat behave like N(0, I / sigma^2) draws: squared lengths average n."""
    layer = McKernel(4096, sigma=2.0, seed=5)
    layer.build((None, 32))
    rows = to_numpy(layer.projection(np.eye(32, dtype="float32"))).T  # (D, d)
    np.testing.assert_allclose(np.mean(np.sum(rows**2, axis=1)) * 4.0, 32, rtol=0.05)


def test_seeds_and_global_seeding(data):
    def weights(layer):
        layer.build((None, DIM))
        return [to_numpy(w) for w in layer.weights]

    for a, b in zip(
        weights(McKernel(64, seed=1)), weights(McKernel(64, seed=1)), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(
        weights(McKernel(64, seed=1))[2], weights(McKernel(64, seed=2))[2]
    )
    keras.utils.set_random_seed(7)
    first = weights(McKernel(64))
    keras.utils.set_random_seed(7)
    second = weights(McKernel(64))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_trainable_switches_which_weights_learn():
    frozen = McKernel(32, seed=0)
    frozen.build((None, 8))
    assert frozen.trainable_weights == []
    learned = McKernel(32, trainable=True, trainable_sigma=True, seed=0)
    learned.build((None, 8))
    names = sorted(w.name for w in learned.trainable_weights)
    assert names == ["gaussian", "log_sigma", "scale", "signs"]
    assert learned.permutation.dtype == "int32"


@pytest.mark.parametrize(
    ("num_features", "input_shape"),
    [(24, (4, 10)), (64, (4, 3, 16)), (8, (2, 2, 2, 5))],
)
def test_keras_layer_contract(num_features, input_shape, rng, tmp_path):
    def factory():
        return McKernel(num_features, sigma=2.0, trainable=True, seed=4)

    padded = 2 ** int(np.ceil(np.log2(input_shape[-1])))
    blocks = -(-num_features // padded)
    run_layer_checks(
        factory,
        input_shape,
        (*input_shape[:-1], 2 * num_features),
        num_params=3 * blocks * padded + num_features,
        rng=rng,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_features": 0}, ValueError, "num_features"),
        ({"num_features": 8.0}, TypeError, "num_features"),
        ({"num_features": 8, "kernel": "laplace"}, ValueError, "kernel"),
        ({"num_features": 8, "sigma": 0.0}, ValueError, "sigma"),
        ({"num_features": 8, "sigma": "1"}, TypeError, "sigma"),
        ({"num_features": 8, "matern_t": 0}, ValueError, "matern_t"),
        ({"num_features": 8, "seed": -1}, TypeError, "seed"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        McKernel(**kwargs)


def test_learned_sigma_under_mixed_precision(rng):
    check_mixed_precision(
        lambda: McKernel(16, trainable=True, trainable_sigma=True, seed=1), (4, 5), rng
    )
