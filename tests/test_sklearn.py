"""McKernelSampler as a drop-in for RBFSampler."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.kernel_approximation import RBFSampler
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from keras_crosswise.sklearn import McKernelSampler


@pytest.mark.backend_independent
@parametrize_with_checks([McKernelSampler()])
def test_scikit_learn_estimator_checks(estimator, check):
    """scikit-learn's own estimator contract, with no expected failures
    (RBFSampler has none either)."""
    check(estimator)


@pytest.mark.backend_independent
def test_pipeline_on_digits_matches_rbf_sampler():
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16, y, random_state=0)

    def score(sampler):
        pipe = make_pipeline(sampler, RidgeClassifier(alpha=1e-2))
        return pipe.fit(x_train, y_train).score(x_test, y_test)

    ours = score(McKernelSampler(2048, sigma=2.0, random_state=0))
    theirs = score(RBFSampler(gamma=1 / 8, n_components=2048, random_state=0))
    assert ours > 0.95 and ours > theirs - 0.02, (ours, theirs)


def test_transform_shape_dtype_and_kernel(rng):
    x = rng.standard_normal((50, 10))
    sampler = McKernelSampler(4096, sigma=3.0, random_state=1).fit(x)
    z = sampler.transform(x)
    assert z.shape == (50, 4096) and z.dtype == np.float64
    squared = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    np.testing.assert_allclose(z @ z.T, np.exp(-squared / 18), atol=0.1)
    np.testing.assert_array_equal(
        z, McKernelSampler(4096, sigma=3.0, random_state=1).fit_transform(x)
    )
    assert clone(sampler).get_params() == sampler.get_params()


@pytest.mark.backend_independent
def test_errors(rng):
    x = rng.standard_normal((5, 4))
    with pytest.raises(NotFittedError):
        McKernelSampler(8).transform(x)
    for bad in (0, -3, 2.5, True):
        with pytest.raises((ValueError, TypeError), match="n_components"):
            McKernelSampler(bad).fit(x)
    with pytest.raises(ValueError, match="features"):
        McKernelSampler(8).fit(x).transform(rng.standard_normal((5, 3)))
    with pytest.raises(ValueError, match="kernel"):
        McKernelSampler(8, kernel="cubic").fit(x)
    with pytest.raises(ValueError, match="dtype"):
        McKernelSampler(8, dtype="float16").fit(x)


@pytest.mark.backend_independent
@pytest.mark.parametrize("n_components", [1, 7, 25])
def test_odd_n_components_trims_the_last_sine(n_components, rng):
    """ceil(n / 2) frequencies; the odd count drops the last sine column."""
    x = rng.standard_normal((6, 5))
    odd = McKernelSampler(n_components, random_state=3).fit_transform(x)
    assert odd.shape == (6, n_components)
    frequencies = -(-n_components // 2)
    even = McKernelSampler(2 * frequencies, random_state=3).fit_transform(x)
    np.testing.assert_array_equal(odd, even[:, :n_components])


@pytest.mark.backend_independent
def test_odd_n_components_bias_stays_within_its_bound(rng):
    """Averaged over seeds, the Gram estimate of an odd count is within
    1 / (n + 1) of the kernel (its documented bias bound) plus noise."""
    x = rng.standard_normal((8, 4))
    squared = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    exact = np.exp(-squared / 8)
    n = 9
    grams = [
        (lambda z: z @ z.T)(
            McKernelSampler(n, sigma=2.0, random_state=s).fit_transform(x)
        )
        for s in range(400)
    ]
    bias = np.abs(np.mean(grams, axis=0) - exact).max()
    assert bias < 1 / (n + 1) + 0.03, bias


@pytest.mark.backend_independent
def test_grid_search_over_odd_and_even_n_components():
    x, y = load_digits(return_X_y=True)
    pipe = make_pipeline(McKernelSampler(sigma=2.0, random_state=0), RidgeClassifier())
    search = GridSearchCV(pipe, {"mckernelsampler__n_components": [10, 25, 50]}, cv=2)
    search.fit(x[:300] / 16, y[:300])
    assert search.best_params_["mckernelsampler__n_components"] == 50
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_dtype_float64_is_batch_independent_and_float32_is_preserved(rng):
    x = rng.standard_normal((64, 30))
    sampler = McKernelSampler(512, sigma=3.0, random_state=0).fit(x)
    full = sampler.transform(x)
    assert full.dtype == np.float64
    by_row = np.vstack([sampler.transform(row[None]) for row in x[:8]])
    np.testing.assert_allclose(by_row, full[:8], rtol=0, atol=1e-12)
    single = McKernelSampler(512, sigma=3.0, random_state=0, dtype="float32").fit(x)
    assert single.transform(x.astype("float32")).dtype == np.float32
    np.testing.assert_allclose(single.transform(x), full, atol=1e-5)


def test_pickle_round_trip_gives_the_same_features(rng):
    x = rng.standard_normal((10, 12))
    sampler = McKernelSampler(33, kernel="matern", random_state=4).fit(x)
    restored = pickle.loads(pickle.dumps(sampler))
    np.testing.assert_array_equal(restored.transform(x), sampler.transform(x))


def test_random_state_none_follows_numpy_global_seed(rng):
    x = rng.standard_normal((4, 6))
    np.random.seed(5)
    first = McKernelSampler(16).fit_transform(x)
    np.random.seed(5)
    np.testing.assert_array_equal(McKernelSampler(16).fit_transform(x), first)
    generator = np.random.RandomState(2)
    assert McKernelSampler(16, random_state=generator).fit_transform(x).shape == (4, 16)


def test_sparse_input_gives_the_dense_features(rng):
    # scikit-learn's test_kernel_approximation.py feeds RBFSampler CSR input.
    import scipy.sparse

    x = rng.standard_normal((6, 10))
    x[x < 0.5] = 0.0
    sampler = McKernelSampler(32, sigma=2.0, random_state=0).fit(x)
    dense = sampler.transform(x)
    sparse = McKernelSampler(32, sigma=2.0, random_state=0).fit(
        scipy.sparse.csr_matrix(x)
    )
    np.testing.assert_allclose(
        sparse.transform(scipy.sparse.csr_matrix(x)), dense, rtol=1e-6, atol=1e-7
    )


def test_feature_names_and_pandas_output(rng):
    pandas = pytest.importorskip("pandas")
    x = rng.standard_normal((5, 4))
    sampler = McKernelSampler(6, random_state=0).fit(x)
    names = list(sampler.get_feature_names_out())
    assert names == [f"mckernelsampler{i}" for i in range(6)]
    pipe = make_pipeline(McKernelSampler(6, random_state=0)).set_output(
        transform="pandas"
    )
    frame = pipe.fit_transform(pandas.DataFrame(x, columns=list("abcd")))
    assert list(frame.columns) == names


@pytest.mark.parametrize("random_state", [-1, 2**32])
def test_bad_random_state_is_named(random_state, rng):
    # It raised an error that named `seed`, an argument the user never gave.
    with pytest.raises(ValueError, match="`random_state`"):
        McKernelSampler(8, random_state=random_state).fit(rng.standard_normal((3, 4)))
