"""Variance-preserving initializer for diagonal weights."""

import keras
import numpy as np

from keras_crosswise._validation import check_positive_real
from keras_crosswise.initializers._numpy_random import NumpyRandomInitializer

DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
# Standard deviation of a standard normal truncated to [-2, 2].
_TRUNCATED_STDDEV = 0.87962566103423978


@keras.saving.register_keras_serializable(package="keras_crosswise")
class DiagonalVarianceScaling(NumpyRandomInitializer):
    """Initializer for diagonal weights that keeps the activation variance.

    Keras's fan-based initializers read a 1-D shape `(n,)` as a layer with
    fan-in `n`, which gives a diagonal weight a variance of about `1 / n`:
    far too small, since each output of a diagonal layer sees one input (fan-in
    1). This initializer draws zero-mean weights with `E[c^2] = gain / fan_in`,
    so `Var(c * x) = gain * Var(x)` for one input per output. Use `gain=2` in
    front of a ReLU (He et al.) and `gain=1` for linear or tanh layers. When
    `units < n`, CZDense sums `ceil(n / units)` inputs per output: pass that as
    `fan_in` to keep the variance.

    Values are drawn with NumPy, so a seed gives the same weights on every
    backend; an unseeded instance draws its seed once, as Keras's do.

    Args:
        gain: positive float, the target second moment `E[c^2] * fan_in`.
        fan_in: positive float, inputs that reach each output (1 for a
            diagonal).
        distribution: `"truncated_normal"` (within two standard deviations,
            rescaled to keep the variance), `"untruncated_normal"` or
            `"uniform"`.
        seed: integer or `None` (then follows `keras.utils.set_random_seed`).

    Example:

    >>> init = DiagonalVarianceScaling(gain=2.0, seed=0)
    >>> values = keras.ops.convert_to_numpy(init(shape=(100_000,)))
    >>> print(f"{values.mean():.2f} {(values ** 2).mean():.2f}")
    -0.00 2.00
    """

    def __init__(
        self, gain=1.0, fan_in=1.0, distribution="truncated_normal", seed=None
    ):
        super().__init__(seed=seed)
        self.gain = check_positive_real("gain", gain)
        self.fan_in = check_positive_real("fan_in", fan_in)
        if distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"`distribution` must be one of {DISTRIBUTIONS}; got {distribution!r}."
            )
        self.distribution = distribution

    def sample(self, rng, shape):
        stddev = np.sqrt(self.gain / self.fan_in)
        size = int(np.prod(shape))
        if self.distribution == "uniform":
            limit = np.sqrt(3.0) * stddev
            values = rng.uniform(-limit, limit, size)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, stddev, size)
        else:
            # Rejection sampling of N(0, 1) on [-2, 2] (95% acceptance).
            values = np.empty(0)
            while values.size < size:
                draws = rng.standard_normal(2 * size + 16)
                values = np.concatenate([values, draws[np.abs(draws) <= 2.0]])
            values = values[:size] * (stddev / _TRUNCATED_STDDEV)
        return values.reshape(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "gain": self.gain,
            "fan_in": self.fan_in,
            "distribution": self.distribution,
        }
