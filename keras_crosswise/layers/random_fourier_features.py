"""RandomFourierFeatures: tf-keras's layer of that name, for Keras 3 on any backend."""

import keras
import numpy as np
from keras import ops

from keras_crosswise._tensors import densified, working_dtype
from keras_crosswise._validation import (
    MAX_FEATURES,
    check_feature_axis,
    check_positive_int,
    check_positive_real,
    check_seed,
    check_weight_size,
    offset_seed,
)
from keras_crosswise.initializers.random_draws import (
    StandardCauchy,
    StandardNormal,
    UniformPhase,
)
from keras_crosswise.layers._fastfood_projection import (
    FastfoodProjection,
    check_structure,
)

KERNELS = ("gaussian", "laplacian")
RFF_STRUCTURES = ("dense", "fastfood", "orthogonal")


@keras.saving.register_keras_serializable(package="keras_crosswise")
class RandomFourierFeatures(FastfoodProjection, keras.layers.Layer):
    """Random Fourier features `cos(x W / scale + b)`: tf-keras's layer, on Keras 3.

    Keras 3 dropped `tf.keras.layers.experimental.RandomFourierFeatures`; this
    layer has its arguments, weights and outputs, on TensorFlow, JAX and
    PyTorch, so models saved by tf-keras load here (see `docs/guide.md`,
    "Migrating from tf-keras"). With `output_dim = D`, the inner product of
    two outputs times `2 / D` approximates the kernel (like tf-keras, the
    layer does not apply the `sqrt(2 / D)` factor itself):

    - `kernel_initializer="gaussian"`: `exp(-||x - y||^2 / (2 scale^2))`,
      W standard normal.
    - `kernel_initializer="laplacian"`: `exp(-||x - y||_1 / scale)`, W
      standard Cauchy.
    - a Keras initializer: the kernel whose spectral density W is drawn from.

    Weights (named as tf-keras did): W -> `unscaled_kernel` `(d, D)`, fixed;
    b -> `bias` `(D,)`, uniform on [0, 2 pi), fixed; `kernel_scale` `(1,)`,
    learned when the layer is `trainable` (non-negative).

    Beyond tf-keras: inputs of any rank `(..., d)`, a `seed` (drawn with
    NumPy: the same features on every backend), and `structure`:
    `"fastfood"` or `"orthogonal"` replace the dense W by McKernel's
    `C H G Pi H B / sqrt(n)` (O(n log n) time, O(n) memory; weights
    `signs`, `permutation`, `gaussian`, `row_scale` instead of
    `unscaled_kernel`, see `McKernel`). `"orthogonal"` has the lowest kernel
    error for the Gaussian kernel; for the Laplacian kernel the dense W has
    the lowest, `"fastfood"` is unbiased too, and `"orthogonal"` is refused
    (it would bias the Cauchy frequencies).

    Args:
        output_dim: positive integer D, the number of features.
        kernel_initializer: `"gaussian"`, `"laplacian"` (case-insensitive) or
            a Keras initializer for W (then `structure` must be `"dense"`).
        scale: positive float, or `None` for tf-keras's default:
            `sqrt(d / 2)` for `"gaussian"`, 1.0 otherwise.
        trainable: whether `kernel_scale` is learned (tf-keras's meaning;
            W and b never are). Default `False`.
        structure: `"dense"` (tf-keras), `"fastfood"` or `"orthogonal"`.
        seed: integer or `None` (then follows `keras.utils.set_random_seed`).
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        N-D tensor with shape `(..., d)`, rank at least 2.

    Output shape:
        N-D tensor with shape `(..., output_dim)`.

    Example:

    >>> x = np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    >>> layer = RandomFourierFeatures(4096, scale=2.0, seed=0)
    >>> z = keras.ops.convert_to_numpy(layer(x)) * np.sqrt(2 / 4096)
    >>> exact = np.exp(-np.sum((x[:, None] - x[None]) ** 2, axis=-1) / 8)
    >>> print(bool(np.abs(z @ z.T - exact).max() < 0.1))
    True

    References:
        Rahimi and Recht, "Random Features for Large-Scale Kernel Machines",
        NIPS 2007. Yu et al., "Orthogonal Random Features", NIPS 2016. Le,
        Sarlós and Smola, "Fastfood", ICML 2013.
    """

    def __init__(
        self,
        output_dim,
        kernel_initializer="gaussian",
        scale=None,
        trainable=False,
        structure="dense",
        seed=None,
        **kwargs,
    ):
        super().__init__(trainable=trainable, **kwargs)
        self.output_dim = check_positive_int("output_dim", output_dim, MAX_FEATURES)
        if isinstance(kernel_initializer, str):
            if kernel_initializer.lower() not in KERNELS:
                raise ValueError(
                    f"`kernel_initializer` must be one of {KERNELS} or a Keras "
                    f"initializer; got {kernel_initializer!r}."
                )
            self.kernel_initializer = kernel_initializer
        else:
            self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.structure = check_structure(self.kernel, structure, RFF_STRUCTURES)
        if structure != "dense" and not isinstance(kernel_initializer, str):
            raise ValueError(
                f"`structure={structure!r}` draws its own frequencies: "
                "`kernel_initializer` must be 'gaussian' or 'laplacian'; got "
                f"{kernel_initializer!r}."
            )
        self.scale = None if scale is None else check_positive_real("scale", scale)
        self.seed = check_seed(seed)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    @property
    def kernel(self):
        """`"gaussian"`, `"laplacian"`, or `None` for a custom initializer."""
        if isinstance(self.kernel_initializer, str):
            return self.kernel_initializer.lower()
        return None

    def build(self, input_shape):
        input_dim = check_feature_axis(type(self).__name__, input_shape)
        self.input_dim = input_dim
        if self.scale is None:
            gaussian = self.kernel == "gaussian"
            self.scale = float(np.sqrt(input_dim / 2.0)) if gaussian else 1.0
        seed = self.seed  # None: each NumPy initializer draws its own seed
        # Created in tf-keras's order and flags, which legacy .h5 files follow.
        self.kernel_scale = self.add_weight(
            name="kernel_scale",
            shape=(1,),
            initializer=keras.initializers.Constant(self.scale),
            constraint="non_neg",
            autocast=False,
        )
        if self.structure == "dense":
            check_weight_size(
                type(self).__name__, "unscaled_kernel", (input_dim, self.output_dim)
            )
            if self.kernel == "gaussian":
                initializer = StandardNormal(offset_seed(seed, "signs"))
            elif self.kernel == "laplacian":
                initializer = StandardCauchy(offset_seed(seed, "signs"))
            else:
                initializer = self.kernel_initializer
            self.unscaled_kernel = self.add_weight(
                name="unscaled_kernel",
                shape=(input_dim, self.output_dim),
                initializer=initializer,
                trainable=False,
                autocast=False,
            )
        else:
            self.build_kernel_features(
                input_dim,
                self.output_dim,
                self.kernel,
                self.structure,
                matern_t=None,
                seed=seed,
                scale_name="row_scale",
                fixed=True,
            )
        self.bias = self.add_weight(
            name="bias",
            shape=(self.output_dim,),
            initializer=UniformPhase(offset_seed(seed, "phase")),
            trainable=False,
            autocast=False,
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})

    def call(self, inputs):
        inputs = densified(inputs)  # sparse inputs: the transforms need all
        # In float32 under mixed precision: cos of large arguments needs it.
        if self.structure == "dense":
            x = ops.cast(inputs, working_dtype(self.compute_dtype))
            projected = ops.matmul(x, self.unscaled_kernel)
        else:
            # Rows of C H G Pi H B / sqrt(n) are the unit-scale frequencies.
            projected = self.fastfood_projection(
                inputs, 1.0 / float(np.sqrt(self.padded_dim))
            )
        # The weights in the projection's dtype: float16 ones of a pure
        # float16 policy against float32 (TensorFlow adds no mixed dtypes).
        scale, bias = (
            ops.cast(w, projected.dtype) for w in (self.kernel_scale, self.bias)
        )
        outputs = ops.cos(projected / scale + bias)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        check_feature_axis(type(self).__name__, input_shape)  # tf-keras's errors
        return (*tuple(input_shape)[:-1], self.output_dim)

    def get_config(self):
        config = super().get_config()
        initializer = self.kernel_initializer
        if not isinstance(initializer, str):
            initializer = keras.initializers.serialize(initializer)
        config.update(
            {
                "output_dim": self.output_dim,
                "kernel_initializer": initializer,
                "scale": self.scale,
                "structure": self.structure,
                "seed": self.seed,
            }
        )
        return config
