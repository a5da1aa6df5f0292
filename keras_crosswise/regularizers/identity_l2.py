"""Regularizer that pulls a diagonal weight toward the identity."""

import keras
from keras import ops

from keras_crosswise._validation import check_real


@keras.saving.register_keras_serializable(package="keras_crosswise")
class IdentityL2(keras.regularizers.Regularizer):
    """L2 penalty on the distance of a diagonal to the identity.

    Adds `l2 * sum((c - target) ** 2)`: with the default `target=1.0` a
    diagonal layer is pulled toward W_hat = I (each block the identity) rather
    than toward zero, as plain L2 would do.

    Args:
        l2: non-negative float, the penalty factor.
        target: float, the diagonal value the weights are pulled toward.

    Example:

    >>> print(float(IdentityL2(0.5)(keras.ops.array([1.0, 3.0]))))  # 0.5 * 2 ** 2
    2.0
    >>> layer = CZDense(64, kernel_regularizer=IdentityL2(1e-3))
    """

    def __init__(self, l2=0.01, target=1.0):
        self.l2 = check_real("l2", l2, minimum=0.0)
        self.target = check_real("target", target)

    def __call__(self, x):
        return self.l2 * ops.sum(ops.square(x - self.target))

    def get_config(self):
        return {"l2": self.l2, "target": self.target}
