"""McKernelSampler as a drop-in for RBFSampler."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.kernel_approximation import RBFSampler
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from keras_crosswise.sklearn import McKernelSampler


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


def test_errors(rng):
    x = rng.standard_normal((5, 4))
    with pytest.raises(NotFittedError):
        McKernelSampler(8).transform(x)
    with pytest.raises(ValueError, match="n_components"):
        McKernelSampler(7).fit(x)
    with pytest.raises(ValueError, match="features"):
        McKernelSampler(8).fit(x).transform(rng.standard_normal((5, 3)))
    with pytest.raises(ValueError, match="kernel"):
        McKernelSampler(8, kernel="cubic").fit(x)
