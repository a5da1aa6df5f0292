"""McKernel features against exact kernels, RBFSampler and their own construction."""

import warnings

import keras
import numpy as np
import pytest
from sklearn.kernel_approximation import RBFSampler

from keras_crosswise.layers import McKernel

from layer_checks import (
    assert_unbiased,
    check_mixed_precision,
    run_layer_checks,
    to_numpy,
)

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


def trainable_names(layer):
    return sorted(w.name for w in layer.trainable_weights)


@pytest.mark.parametrize(
    ("kwargs", "learned"),
    [
        ({}, []),
        ({"trainable_sigma": True}, ["log_sigma"]),
        ({"trainable_features": True}, ["gaussian", "scale", "signs"]),
        (
            {"trainable_features": True, "trainable_sigma": True},
            ["gaussian", "log_sigma", "scale", "signs"],
        ),
    ],
)
def test_each_weight_has_its_own_trainable_flag(kwargs, learned):
    layer = McKernel(32, seed=0, **kwargs)
    layer.build((None, 8))
    assert trainable_names(layer) == learned
    assert layer.permutation.dtype == "int32"
    assert "permutation" not in trainable_names(layer)
    # What `model.trainable = True` does: fixed random features stay fixed.
    model = keras.Sequential([keras.Input((8,)), layer])
    model.trainable = True
    assert trainable_names(layer) == learned
    # The layer-wide switch freezes every weight, then restores each flag.
    layer.trainable = False
    assert layer.trainable_weights == []
    layer.trainable = True
    assert trainable_names(layer) == learned


def test_learned_sigma_alone_moves_under_fit(rng):
    """trainable_sigma=True with fixed features learns sigma and nothing else."""
    layer = McKernel(16, sigma=1.0, trainable_sigma=True, seed=0)
    model = keras.Sequential([keras.Input((4,)), layer, keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.5), "mse")
    x = rng.standard_normal((64, 4)).astype("float32")
    fixed = [to_numpy(w) for w in (layer.signs, layer.gaussian, layer.scale)]
    model.fit(x, np.sum(x, axis=1, keepdims=True), epochs=3, verbose=0)
    assert abs(float(to_numpy(layer.log_sigma))) > 1e-4
    for before, weight in zip(
        fixed, (layer.signs, layer.gaussian, layer.scale), strict=True
    ):
        np.testing.assert_array_equal(to_numpy(weight), before)


def test_config_saved_before_per_weight_flags_still_loads():
    """Before 0.2, `trainable=True` meant learned features (golden files)."""
    old = McKernel(8, seed=0).get_config()
    del old["trainable_features"]
    learned = McKernel.from_config({**old, "trainable": True})
    assert learned.trainable and learned.trainable_features
    fixed = McKernel.from_config({**old, "trainable": False})
    assert fixed.trainable and not fixed.trainable_features


def test_build_keeps_weights_on_device():
    """No host round trip (NumPy's __array__ DeprecationWarning on JAX)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        McKernel(64, sigma=2.0, seed=1).build((None, 16))


@pytest.mark.parametrize(
    "scalar", [np.float32(2.0), np.float16(2.0), np.float64(2.0), np.int64(2)]
)
def test_numpy_scalars_are_accepted(scalar, rng):
    layer = McKernel(np.int64(8), sigma=scalar, matern_t=np.int32(3), seed=np.int64(0))
    reference = McKernel(8, sigma=2.0, matern_t=3, seed=0)
    x = rng.standard_normal((3, 5)).astype("float32")
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(reference(x)))
    assert type(layer.get_config()["sigma"]) is float


@pytest.mark.parametrize(
    ("num_features", "input_shape"),
    [(24, (4, 10)), (64, (4, 3, 16)), (8, (2, 2, 2, 5))],
)
def test_keras_layer_contract(num_features, input_shape, rng, tmp_path):
    def factory():
        return McKernel(num_features, sigma=2.0, trainable_features=True, seed=4)

    padded = 2 ** int(np.ceil(np.log2(input_shape[-1])))
    blocks = -(-num_features // padded)
    run_layer_checks(
        factory,
        input_shape,
        (*input_shape[:-1], 2 * num_features),
        num_params=3 * blocks * padded + num_features,
        rng=rng,
        tmp_path=tmp_path,
        trainable_weights=3,  # trainable_features: signs, gaussian, scale
        non_trainable_weights=1,  # the permutation (log_sigma: not asked for)
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_features": 0}, ValueError, "num_features"),
        ({"num_features": 8.0}, ValueError, "num_features"),
        ({"num_features": 2**28}, ValueError, "num_features"),  # over MAX_FEATURES
        ({"num_features": 8, "kernel": "laplace"}, ValueError, "kernel"),
        ({"num_features": 8, "sigma": 0.0}, ValueError, "sigma"),
        ({"num_features": 8, "sigma": "1"}, TypeError, "sigma"),
        ({"num_features": 8, "sigma": True}, TypeError, "sigma"),
        ({"num_features": 8, "sigma": float("inf")}, ValueError, "sigma"),
        ({"num_features": True}, ValueError, "num_features"),
        ({"num_features": 8, "sigma": 1e-300}, ValueError, "sigma"),  # 1/sigma: inf
        ({"num_features": 8, "sigma": 1e300}, ValueError, "sigma"),  # 1/sigma: 0
        ({"num_features": 8, "matern_t": 0}, ValueError, "matern_t"),
        ({"num_features": 8, "seed": -1}, TypeError, "seed"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        McKernel(**kwargs)


def test_learned_sigma_under_mixed_precision(rng):
    check_mixed_precision(
        lambda: McKernel(16, trainable_features=True, trainable_sigma=True, seed=1),
        (4, 5),
        rng,
    )


def block_rows(layer, dim):
    """The frequency rows Z_hat (D, d) of a built layer."""
    return to_numpy(layer.projection(np.eye(dim, dtype="float32"))).T


def test_orthogonal_rows_within_a_block_with_chi_lengths():
    layer = McKernel(256, sigma=2.0, structure="orthogonal", seed=3)
    layer.build((None, 64))
    rows = block_rows(layer, 64).astype("float64")
    for block in (rows[:64], rows[64:128]):
        gram = block @ block.T
        off_diagonal = gram - np.diag(np.diag(gram))
        assert np.abs(off_diagonal).max() < 1e-4 * np.diag(gram).mean()
    # Squared lengths of N(0, I / sigma^2) rows: mean d / sigma^2 = 16.
    np.testing.assert_allclose(np.mean(np.sum(rows**2, axis=1)), 16, rtol=0.1)
    fastfood = McKernel(256, sigma=2.0, seed=3)
    fastfood.build((None, 64))
    gram = block_rows(fastfood, 64)[:64] @ block_rows(fastfood, 64)[:64].T
    assert np.abs(gram - np.diag(np.diag(gram))).max() > 0.5  # not orthogonal


def gram_estimates(make_layer, x, seeds):
    return [(lambda z: z @ z.T)(features(make_layer(s), x)) for s in range(seeds)]


def test_orthogonal_features_are_unbiased_and_tighter(rng):
    x = rng.standard_normal((10, 16))
    exact = gaussian_gram(x)
    grams = {
        structure: gram_estimates(
            lambda s, st=structure: McKernel(64, sigma=SIGMA, structure=st, seed=s),
            x,
            60,
        )
        for structure in ("fastfood", "orthogonal")
    }
    for estimates in grams.values():
        assert_unbiased(estimates, exact)
    errors = {
        structure: np.mean([relative_error(g, exact) for g in estimates])
        for structure, estimates in grams.items()
    }
    assert errors["orthogonal"] < 0.7 * errors["fastfood"], errors


def test_laplacian_kernel_against_numpy(rng):
    """exp(-||x - y||_1 / sigma) in NumPy; averaged over seeds (unbiased)."""
    x = rng.standard_normal((10, 6)) * 0.5
    exact = np.exp(-np.sum(np.abs(x[:, None] - x[None]), axis=-1) / 2.0)
    grams = gram_estimates(
        lambda s: McKernel(256, kernel="laplacian", sigma=2.0, seed=s), x, 60
    )
    assert_unbiased(grams, exact)
    np.testing.assert_allclose(np.diag(grams[0]), 1.0, atol=1e-5)


def test_structure_is_saved_and_the_default_is_the_papers():
    layer = McKernel(8, structure="orthogonal", seed=0)
    assert McKernel.from_config(layer.get_config()).structure == "orthogonal"
    assert McKernel(8).structure == "fastfood"
    with pytest.raises(ValueError, match="structure"):
        McKernel(8, structure="butterfly")
    with pytest.raises(ValueError, match="orthogonal"):
        McKernel(8, kernel="laplacian", structure="orthogonal")
