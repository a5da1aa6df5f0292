"""McKernel: random Fourier features in log-linear time (Fastfood, Eq. 13-14)."""

import keras
import numpy as np
from keras import ops

from keras_crosswise._tensors import densified
from keras_crosswise._validation import (
    MAX_FEATURES,
    check_feature_axis,
    check_positive_int,
    check_seed,
    check_sigma,
)
from keras_crosswise.initializers.matern_scaling import MAX_MATERN_T
from keras_crosswise.layers._fastfood_projection import (
    FastfoodProjection,
    check_structure,
)
from keras_crosswise.layers._weight_flags import PerWeightTrainable

KERNELS = ("gaussian", "matern", "laplacian")
MCKERNEL_STRUCTURES = ("fastfood", "orthogonal")


@keras.saving.register_keras_serializable(package="keras_crosswise")
class McKernel(PerWeightTrainable, FastfoodProjection, keras.layers.Layer):
    """Random kernel features `[cos(Z_hat x), sin(Z_hat x)] / sqrt(D)` (McKernel).

    `Z_hat = 1 / (sigma sqrt(n)) C H G Pi H B` (Eq. 14) approximates a dense
    Gaussian random projection in O(n log n) time and O(n) memory per block,
    with the input zero-padded to n = the next power of two and
    `ceil(num_features / n)` independent blocks stacked and trimmed to
    `D = num_features` rows. The inner product of two feature vectors is an
    unbiased estimate of the kernel (Eq. 13), with an error like 1 / sqrt(D):

    - `kernel="gaussian"`: `k(x, y) = exp(-||x - y||^2 / (2 sigma^2))`.
    - `kernel="matern"`: McKernel's Matérn construction, the kernel whose
      spectral density is the `matern_t`-fold convolution of the unit ball.
    - `kernel="laplacian"`: `k(x, y) = exp(-||x - y||_1 / sigma)`, whose
      frequencies are i.i.d. Cauchy per coordinate. With Gaussian G each
      row of `H G Pi H` is exactly N(0, n I) over the draw of G, so a row
      of C H G Pi H is exactly Gaussian; B holds `1 / g` draws, and each row
      is that Gaussian row divided coordinate-wise by independent normals:
      a ratio of normals, i.i.d. Cauchy in every coordinate. So every row
      has the exact Cauchy law and the features are unbiased; the rows of
      a block share the divisors, which adds variance (a Gram error 3.1-3.8x
      that of dense i.i.d. Cauchy features at equal D; see
      docs/benchmarks.md). Only `structure="fastfood"` keeps this: with
      Rademacher G the row entries are not Gaussian.

    `structure` chooses the frequency rows of each n-block:

    - `"fastfood"` (default): the paper's C H G Pi H B with Gaussian G, rows
      nearly independent, as i.i.d. random features (Rahimi and Recht).
    - `"orthogonal"`: G Rademacher, so each block's rows are exactly
      orthogonal, with lengths drawn as the kernel's (Orthogonal Random
      Features, Yu et al. 2016, in Fastfood's O(n log n) form). Same weights,
      same cost, a lower kernel error (docs/benchmarks.md). The row
      directions are not exactly uniform, so the estimate has a small bias
      that fades with n: 0.035 at n = 8, within noise from n = 16 (300
      seeds, Gaussian kernel). Gaussian and Matérn kernels only.

    Weights (paper symbol -> name): B -> `signs` (Rademacher; `1 / g` for
    the Laplacian), Pi -> `permutation` (int32, never trained), G ->
    `gaussian` (standard normal; Rademacher for `"orthogonal"`), C -> `scale`
    (chi lengths over ||G||, or Matérn lengths over ||G||), all
    of shape `(blocks, n)` except `scale`, `(num_features,)`; `log_sigma`
    exists only with `trainable_sigma=True`. The draws are stored with the
    model, so a reloaded model gives the same features on any backend. They
    are drawn with NumPy, so the same `seed` gives the same features on every
    backend too.

    Which weights learn: each weight has its own flag. `trainable_features`
    makes B, G and C learnable (adaptive Fastfood), `trainable_sigma` makes
    `log_sigma` learnable; Pi never learns. The layer's own `trainable` is
    Keras's switch for the whole layer: `False` freezes every weight, and
    `True` (the default, also what `model.trainable = True` sets) leaves each
    weight to its flag, so fixed random features stay fixed.

    Args:
        num_features: positive integer D; the output has `2 * D` features.
        kernel: `"gaussian"`, `"matern"` or `"laplacian"`.
        sigma: positive float, the kernel's length scale.
        matern_t: positive integer, ball samples summed for `"matern"`.
        structure: `"fastfood"` or `"orthogonal"` (see above).
        trainable_features: whether `signs`, `gaussian` and `scale` are
            learned by backpropagation (adaptive Fastfood). Default `False`:
            fixed random features.
        trainable_sigma: whether sigma is learned (as `log_sigma`).
        seed: integer or `None`; `None` follows `keras.utils.set_random_seed`.
        **kwargs: base layer keyword arguments, such as `name`, `dtype` and
            `trainable` (the layer-wide switch above).

    Input shape:
        N-D tensor with shape `(..., d)`, rank at least 2.

    Output shape:
        N-D tensor with shape `(..., 2 * num_features)`.

    Example:

    >>> x = np.random.default_rng(0).standard_normal((5, 16)).astype("float32")
    >>> z = keras.ops.convert_to_numpy(McKernel(4096, sigma=4.0, seed=0)(x))
    >>> z.shape
    (5, 8192)
    >>> exact = np.exp(-np.sum((x[:, None] - x[None]) ** 2, axis=-1) / 32)
    >>> print(bool(np.abs(z @ z.T - exact).max() < 0.05))
    True

    References:
        Curtó et al., "McKernel: A Library for Approximate Kernel Expansions
        in Log-linear Time", arXiv:1702.08159. Le, Sarlós and Smola,
        "Fastfood: approximating kernel expansions in loglinear time", ICML
        2013. Rahimi and Recht, "Random Features for Large-Scale Kernel
        Machines", NIPS 2007. Yu et al., "Orthogonal Random Features", NIPS
        2016. Curtó, Zarza et al., arXiv:1905.10324 (Eq. 13-14).
    """

    def __init__(
        self,
        num_features,
        kernel="gaussian",
        sigma=1.0,
        matern_t=40,
        structure="fastfood",
        trainable_features=False,
        trainable_sigma=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_features = check_positive_int(
            "num_features", num_features, MAX_FEATURES
        )
        if kernel not in KERNELS:
            raise ValueError(f"`kernel` must be one of {KERNELS}; got {kernel!r}.")
        self.kernel = kernel
        self.structure = check_structure(kernel, structure, MCKERNEL_STRUCTURES)
        self.sigma = check_sigma(sigma)
        self.matern_t = check_positive_int("matern_t", matern_t, MAX_MATERN_T)
        self.trainable_features = bool(trainable_features)
        self.trainable_sigma = bool(trainable_sigma)
        self.seed = check_seed(seed)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = check_feature_axis(type(self).__name__, input_shape)
        self.input_dim = input_dim
        self.build_kernel_features(
            input_dim,
            self.num_features,
            self.kernel,
            self.structure,
            self.matern_t,
            self.seed,
            scale_name="scale",
        )
        if self.trainable_sigma:
            self.log_sigma = self.add_weight(
                autocast=False,
                name="log_sigma",
                shape=(),
                initializer=keras.initializers.Constant(np.log(self.sigma)),
            )
        self._apply_weight_flags()
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})

    def _apply_weight_flags(self):
        # Every float weight is created trainable, which fixes the order of
        # the saved variables (Keras saves those created trainable first);
        # each then gets its own flag, unless the whole layer is frozen.
        flags = {"signs": self.trainable_features, "gaussian": self.trainable_features}
        flags |= {"scale": self.trainable_features, "log_sigma": self.trainable_sigma}
        for weight in self.weights:
            if weight.name in flags:
                weight.trainable = self.trainable and flags[weight.name]

    def projection(self, inputs):
        """Z_hat x of shape `(..., num_features)`, in float32 (float64 for a
        float64 layer)."""
        if self.trainable_sigma:
            inverse_sigma = ops.exp(-self.log_sigma)
        else:
            inverse_sigma = 1.0 / self.sigma
        return self.fastfood_projection(
            inputs, inverse_sigma / float(np.sqrt(self.padded_dim))
        )

    def call(self, inputs):
        inputs = densified(inputs)  # sparse inputs: the transforms need all
        # Computed in float32 under mixed precision: cos and sin of large
        # arguments lose their meaning in float16.
        projected = self.projection(inputs)
        features = ops.concatenate([ops.cos(projected), ops.sin(projected)], -1)
        features = features / float(np.sqrt(self.num_features))
        return ops.cast(features, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        check_feature_axis(type(self).__name__, input_shape)
        return (*tuple(input_shape)[:-1], 2 * self.num_features)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_features": self.num_features,
                "kernel": self.kernel,
                "sigma": self.sigma,
                "matern_t": self.matern_t,
                "structure": self.structure,
                "trainable_features": self.trainable_features,
                "trainable_sigma": self.trainable_sigma,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        if "trainable_features" not in config:
            # Saved before version 0.2, when `trainable` meant the features.
            config = {
                **config,
                "trainable_features": config.get("trainable", False),
                "trainable": True,
            }
        return cls(**config)
