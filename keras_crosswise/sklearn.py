"""scikit-learn transformer computing McKernel features (a drop-in for RBFSampler)."""

from numbers import Integral

import keras
import numpy as np
import scipy.sparse
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from keras_crosswise import _backends
from keras_crosswise._validation import MAX_FEATURES, check_positive_int
from keras_crosswise.layers.mckernel import McKernel

DTYPES = ("float32", "float64")


FLOATS = [np.float64, np.float32]


def _dense(X):
    """The fast transforms need dense rows: a sparse `X` is densified."""
    return X.toarray() if scipy.sparse.issparse(X) else X


class McKernelSampler(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Approximate a Gaussian RBF (or Matérn) kernel map with McKernel features.

    A drop-in for `sklearn.kernel_approximation.RBFSampler` in a `Pipeline`:
    `n_components` output columns approximate the feature map of
    `k(x, y) = exp(-||x - y||^2 / (2 sigma^2))`, i.e. RBFSampler's
    `gamma = 1 / (2 sigma^2)`. Features are computed by a `McKernel` layer with
    `ceil(n_components / 2)` frequencies (a cosine and a sine column each), in
    O(n log n) per sample instead of RBFSampler's O(n_features * n_components).
    For an odd `n_components` the last sine column is dropped; the inner
    product then has a bias of at most `1 / (n_components + 1)` (that one
    frequency contributes `cos(w.x) cos(w.y)`, whose mean is
    `(k(x - y) + k(x + y)) / 2`), well below its random error of about
    `1 / sqrt(n_components)`.

    The same `random_state` gives the same features on every Keras backend.

    Args:
        n_components: positive integer, the number of output features.
        kernel: `"gaussian"`, `"matern"` or `"laplacian"` (see `McKernel`).
        sigma: positive float, the kernel's length scale.
        matern_t: positive integer, ball samples for `kernel="matern"`.
        structure: `"fastfood"` (the paper's) or `"orthogonal"` (orthogonal
            rows within each block: a lower kernel error at the same cost).
        random_state: integer, `numpy.random.RandomState` or `None` (NumPy's
            global generator, as in scikit-learn).
        dtype: `None` (compute in the dtype of `X`: float64 or float32, as
            RBFSampler), `"float64"` or `"float32"`. In float32 a sample's
            features can depend on the other samples of the batch by up to
            about 1e-7 (backend matrix kernels sum in batch-dependent
            orders); float64 makes them agree to 1e-13, at 2.1-2.5x the
            float32 time (2000 x 1024 inputs, 4096 features, each backend).

    Example:

    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import RidgeClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> x, y = load_digits(return_X_y=True)
    >>> pipe = make_pipeline(
    ...     McKernelSampler(2048, sigma=2.0, random_state=0),
    ...     RidgeClassifier(alpha=1e-2),
    ... )
    >>> score = pipe.fit(x[:1000] / 16, y[:1000]).score(x[1000:] / 16, y[1000:])
    >>> print(score > 0.9)
    True
    """

    def __init__(
        self,
        n_components=100,
        kernel="gaussian",
        sigma=1.0,
        matern_t=40,
        structure="fastfood",
        random_state=None,
        dtype=None,
    ):
        self.n_components = n_components
        self.kernel = kernel
        self.sigma = sigma
        self.matern_t = matern_t
        self.structure = structure
        self.random_state = random_state
        self.dtype = dtype

    def fit(self, X, y=None):
        """Draw the random features for the width of `X`."""
        # scikit-learn validates parameters in `fit`, not `__init__`; the
        # McKernel layer checks the others with the same clear errors.
        n_components = check_positive_int(
            "n_components", self.n_components, 2 * MAX_FEATURES
        )
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(
                f"`dtype` must be None or one of {DTYPES}; got {self.dtype!r}."
            )
        X = _dense(validate_data(self, X, accept_sparse="csr", dtype=FLOATS))
        seed = self.random_state
        if isinstance(seed, Integral) and not 0 <= seed < 2**32:
            raise ValueError(
                "`random_state` must be None, an integer in [0, 2**32 - 1] or a "
                f"numpy.random.RandomState; got {seed!r}."
            )
        if not isinstance(seed, Integral):
            seed = int(check_random_state(seed).randint(2**31 - 1))
        self.layer_dtype_ = self.dtype or X.dtype.name
        with _backends.float64_scope(self.layer_dtype_):
            self.layer_ = McKernel(
                -(-n_components // 2),
                kernel=self.kernel,
                sigma=self.sigma,
                matern_t=self.matern_t,
                structure=self.structure,
                seed=int(seed),
                dtype=self.layer_dtype_,
            )
            self.layer_.build((None, X.shape[1]))
        return self

    def transform(self, X):
        """The `(n_samples, n_components)` feature matrix, in the dtype of `X`."""
        check_is_fitted(self, "layer_")
        X = validate_data(self, X, accept_sparse="csr", dtype=FLOATS, reset=False)
        X = _dense(X)
        with _backends.float64_scope(self.layer_dtype_):
            features = keras.ops.convert_to_numpy(self.layer_(X))
        # [cos | sin] of ceil(n / 2) frequencies: drop the extra sine column.
        return np.asarray(features[:, : self.n_components], dtype=X.dtype)

    @property
    def _n_features_out(self):
        """Output width, for `get_feature_names_out` (`mckernelsampler0`, ...)."""
        return self.n_components

    def __getstate__(self):
        # The layer travels as its config and NumPy weights, so a pickle loads
        # on any backend and keeps float64 weights on JAX (see `_float64_scope`).
        state = dict(super().__getstate__())
        layer = state.pop("layer_", None)
        if layer is not None:
            weights = [keras.ops.convert_to_numpy(w.value) for w in layer.weights]
            state["layer_"] = (layer.get_config(), layer.input_dim, weights)
        return state

    def __setstate__(self, state):
        packed = state.pop("layer_", None)
        if packed is not None:
            config, input_dim, weights = packed
            with _backends.float64_scope(state["layer_dtype_"]):
                layer = McKernel.from_config(config)
                layer.build((None, input_dim))
                layer.set_weights(weights)
            state["layer_"] = layer
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        return tags
