"""scikit-learn transformer computing McKernel features (a drop-in for RBFSampler)."""

import keras
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from keras_crosswise.layers.mckernel import McKernel


class McKernelSampler(TransformerMixin, BaseEstimator):
    """Approximate a Gaussian RBF (or Matérn) kernel map with McKernel features.

    A drop-in for `sklearn.kernel_approximation.RBFSampler` in a `Pipeline`:
    `n_components` output columns approximate the feature map of
    `k(x, y) = exp(-||x - y||^2 / (2 sigma^2))`, i.e. RBFSampler's
    `gamma = 1 / (2 sigma^2)`. Features are computed by a `McKernel` layer with
    `n_components / 2` frequencies (a cosine and a sine column each), in
    O(n log n) per sample instead of RBFSampler's O(n_features * n_components).

    Args:
        n_components: positive even integer, the number of output features.
        kernel: `"gaussian"` or `"matern"`.
        sigma: positive float, the kernel's length scale.
        matern_t: positive integer, ball samples for `kernel="matern"`.
        random_state: integer or `None`.

    Example:

    >>> pipe = make_pipeline(McKernelSampler(2048, sigma=4.0), RidgeClassifier())
    >>> pipe.fit(x_train, y_train).score(x_test, y_test)
    """

    def __init__(
        self,
        n_components=100,
        kernel="gaussian",
        sigma=1.0,
        matern_t=40,
        random_state=None,
    ):
        self.n_components = n_components
        self.kernel = kernel
        self.sigma = sigma
        self.matern_t = matern_t
        self.random_state = random_state

    def fit(self, X, y=None):
        """Draw the random features for the width of `X`."""
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        if (
            isinstance(self.n_components, bool)
            or not isinstance(self.n_components, (int, np.integer))
            or self.n_components <= 0
            or self.n_components % 2
        ):
            raise ValueError(
                "`n_components` must be a positive even integer (cosine and sine "
                f"pairs); got {self.n_components!r}."
            )
        seed = self.random_state
        if isinstance(seed, np.random.RandomState):
            seed = int(seed.randint(2**31 - 1))
        self.layer_ = McKernel(
            self.n_components // 2,
            kernel=self.kernel,
            sigma=self.sigma,
            matern_t=self.matern_t,
            seed=seed,
        )
        self.layer_.build((None, X.shape[1]))
        return self

    def transform(self, X):
        """The `(n_samples, n_components)` feature matrix."""
        check_is_fitted(self, "layer_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        features = self.layer_(X.astype("float32"))
        return np.asarray(keras.ops.convert_to_numpy(features), dtype=X.dtype)
