"""Variance-preserving initializer for diagonal weights."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_crosswise")
class DiagonalVarianceScaling(keras.initializers.VarianceScaling):
    """Initializer for diagonal weights that keeps the activation variance.

    Keras's fan-based initializers read a 1-D shape `(n,)` as a layer with
    fan-in `n`, which gives a diagonal weight a variance of about `1 / n`:
    far too small, since each output of a diagonal layer sees one input (fan-in
    1). This initializer draws zero-mean weights with `E[c^2] = gain / fan_in`,
    so `Var(c * x) = gain * Var(x)` for one input per output. Use `gain=2` in
    front of a ReLU (He et al.) and `gain=1` for linear or tanh layers. When
    `units < n`, CZDense sums `ceil(n / units)` inputs per output: pass that as
    `fan_in` to keep the variance.

    Args:
        gain: positive float, the target second moment `E[c^2] * fan_in`.
        fan_in: positive float, inputs that reach each output (1 for a
            diagonal).
        distribution: `"truncated_normal"` (within two standard deviations,
            rescaled to keep the variance), `"untruncated_normal"` or
            `"uniform"`.
        seed: integer or `None`, as in every Keras random initializer.

    Example:

    >>> init = DiagonalVarianceScaling(gain=2.0)
    >>> values = init(shape=(4096,))  # mean ~0, mean of squares ~2
    """

    def __init__(
        self, gain=1.0, fan_in=1.0, distribution="truncated_normal", seed=None
    ):
        if fan_in <= 0:
            raise ValueError(f"`fan_in` must be positive; got {fan_in}.")
        super().__init__(
            scale=gain, mode="fan_in", distribution=distribution, seed=seed
        )
        self.gain = gain
        self.fan_in = fan_in

    def __call__(self, shape, dtype=None):
        # VarianceScaling on a (1, size) matrix has fan-in 1: variance = scale.
        flat = super().__call__((1, math.prod(shape)), dtype=dtype)
        return ops.reshape(flat, shape) / math.sqrt(self.fan_in)

    def get_config(self):
        config = super().get_config()
        for key in ("scale", "mode", "input_axes", "output_axes"):
            config.pop(key, None)
        config.update({"gain": self.gain, "fan_in": self.fan_in})
        return config
