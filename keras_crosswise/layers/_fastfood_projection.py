"""The Fastfood projection S H G Pi H B x shared by McKernel and FastfoodDense."""

import keras
from keras import ops

from keras_crosswise import _backends, native
from keras_crosswise._tensors import working_dtype
from keras_crosswise._validation import check_layer_size, offset_seed
from keras_crosswise.initializers.chi_scaling import ChiScaling
from keras_crosswise.initializers.matern_scaling import MaternScaling
from keras_crosswise.initializers.normalized_gaussian import NormalizedGaussian
from keras_crosswise.initializers.rademacher_signs import RademacherSigns
from keras_crosswise.initializers.random_draws import ReciprocalNormal, StandardNormal
from keras_crosswise.initializers.random_permutation import RandomPermutation
from keras_crosswise.ops.fastfood import (
    check_permutation_rows,
    fastfood,
    fused_fastfood,
)
from keras_crosswise.ops.hadamard import next_power_of_two, pad_to_power_of_two


def check_structure(kernel, structure, structures):
    """Return `structure` if it is one of `structures` and keeps `kernel`'s
    features unbiased; else a clear `ValueError`. With Rademacher G
    (`"orthogonal"`) the row entries are not Gaussian, which biases the
    Laplacian kernel's Cauchy frequencies (see `build_kernel_features`)."""
    if structure not in structures:
        raise ValueError(f"`structure` must be one of {structures}; got {structure!r}.")
    if kernel == "laplacian" and structure == "orthogonal":
        unbiased = tuple(s for s in structures if s != "orthogonal")
        raise ValueError(
            "`structure='orthogonal'` would bias the Laplacian kernel's Cauchy "
            f"frequencies; use one of {unbiased} for `kernel='laplacian'`."
        )
    return structure


def default_signs(seed):
    return RademacherSigns(seed=offset_seed(seed, "signs"))


def default_gaussian(seed, normalized=False):
    """G: standard normal; with `normalized`, rows rescaled to ||G||^2 = n."""
    if normalized:
        return NormalizedGaussian(seed=offset_seed(seed, "gaussian"))
    return StandardNormal(seed=offset_seed(seed, "gaussian"))


def build_fastfood(
    layer, input_dim, outputs, signs, gaussian, scale, seed, scale_name="scale"
):
    """Create the Fastfood weights on `layer` (a Keras layer); `signs`,
    `gaussian` and `scale` are `add_weight` keyword arguments (initializer,
    regularizer, constraint). The float weights are read in float32 under
    mixed precision. C is stored as the attribute and weight `scale_name`.
    Returns n."""
    padded = next_power_of_two(input_dim)
    shape = (-(-outputs // padded), padded)
    check_layer_size(
        type(layer).__name__,
        {
            "signs": shape,
            "permutation": shape,
            "gaussian": shape,
            "scale": (outputs,),
        },
        row=shape[0] * shape[1],
    )
    layer.fastfood_outputs, layer.padded_dim = outputs, padded
    native.status()  # built and loaded here, eagerly, not in a traced call
    layer.signs = layer.add_weight(name="signs", shape=shape, autocast=False, **signs)
    layer.permutation = layer.add_weight(
        name="permutation",
        shape=shape,
        dtype="int32",
        initializer=RandomPermutation(seed=offset_seed(seed, "permutation")),
        trainable=False,
    )
    layer.gaussian = layer.add_weight(
        name="gaussian", shape=shape, autocast=False, **gaussian
    )
    layer.row_scale = layer.add_weight(
        name=scale_name, shape=(outputs,), autocast=False, **scale
    )
    setattr(layer, scale_name, layer.row_scale)
    if _backends.CACHES_CONSTANTS:
        # The transform's constants, made now and kept: torch.compile
        # then finds them instead of tracing the NumPy that makes them.
        fastfood_projection(layer, ops.zeros((1, input_dim), layer.compute_dtype))
    return padded


def fastfood_projection(layer, inputs, factor=1.0, bias=None, input_scale=None):
    """`layer`'s `S H G Pi H B x` of shape `(..., outputs)`: the input
    zero-padded to n, the blocks' outputs concatenated and trimmed. Computed
    in float32 (float64 for a float64 layer). `factor` (a scalar, or a
    scalar tensor) multiplies S before S multiplies the rows: one pass over
    the outputs fewer than multiplying them after. `bias` (`(outputs,)`, or
    `None`) is added in the same pass. `input_scale` (`(input_dim,)`, or
    `None`), a diagonal on the input, is folded into B: no scaled copy of
    the input is made, nor kept for the backward.

    Where the native kernel serves the input (`native.fastfood_for`: a CPU
    under JAX or PyTorch, not while exporting), the whole product, bias
    included, is one kernel call forward and one backward, which keeps no
    activation; elsewhere it is `ops.fastfood` and elementwise ops."""
    x = ops.cast(inputs, working_dtype(layer.compute_dtype))
    scale = ops.cast(layer.row_scale, x.dtype) * factor
    signs = layer.signs
    if input_scale is not None:
        signs = signs * pad_to_power_of_two(ops.cast(input_scale, signs.dtype))
    fused = fused_fastfood(x, signs, layer.permutation, layer.gaussian, scale, bias)
    if fused is not None:
        return fused
    mixed = fastfood(pad_to_power_of_two(x), signs, layer.permutation, layer.gaussian)
    outputs = mixed[..., : layer.fastfood_outputs] * scale
    return outputs if bias is None else outputs + ops.cast(bias, outputs.dtype)


def check_loaded_permutation(layer):
    """After loading `layer`'s variables: each row of its `permutation` must
    be a permutation of `0..n-1` (a corrupted or edited file)."""
    if getattr(layer, "permutation", None) is not None:  # not a dense variant
        rows = keras.ops.convert_to_numpy(layer.permutation.value)
        check_permutation_rows(
            f"{type(layer).__name__} '{layer.name}': the loaded weight `permutation`",
            rows,
            "The saved file is corrupted or was edited.",
        )


class FastfoodProjection:
    """Mixin for a Keras layer: owns the Fastfood weights and `S H G Pi H B x`.

    Weights, created by `build_fastfood` in this order (saved files depend on
    it): B -> `signs`, Pi -> `permutation` (int32, never trained), G ->
    `gaussian`, each `(blocks, n)`, and S (C in Eq. 14) -> `row_scale`,
    `(outputs,)`, saved and also reachable under the layer's own name for it
    (`scale` in McKernel and FastfoodDense). n is the
    next power of two >= the input width and `blocks = ceil(outputs / n)`.
    On load, each row of `permutation` must be a permutation of `0..n-1`: a
    corrupted or edited file would otherwise gather out of range (an opaque
    backend error, or NaN on JAX) or silently compute a wrong product.

    On a CPU under JAX and PyTorch the whole product, S and bias included,
    is one call of the native kernel each way (`native.fastfood_for`), which
    `build` loads so that no compiled call builds it; elsewhere (TensorFlow,
    GPUs, every export) it is `ops.fastfood`, whose transforms run
    `fwht(method="auto")`.
    """

    def build_fastfood(self, *args, **kwargs):
        """`build_fastfood(self, ...)`: the weights; returns n."""
        return build_fastfood(self, *args, **kwargs)

    def build_kernel_features(
        self,
        input_dim,
        outputs,
        kernel,
        structure,
        matern_t,
        seed,
        scale_name,
        fixed=False,
    ):
        """The Fastfood weights of random kernel features (McKernel, and
        RandomFourierFeatures with a structure): rows of `C H G Pi H B / n`
        distributed as the kernel's frequencies (scale 1).

        - `structure="fastfood"` (Le et al.; McKernel): G standard normal,
          `C_i = length_i / ||G||` of its block.
        - `structure="orthogonal"`: G Rademacher, so `H G Pi H B / n` is an
          orthogonal matrix for Rademacher B: the rows of a block are exactly
          orthogonal, with lengths drawn as the kernel's (ORF, Yu et al. 2016).
        - Lengths: chi(n) for `"gaussian"` and `"laplacian"`, Matérn ball
          sums for `"matern"`. For `"laplacian"`, B holds `1 / g` draws: row
          `i` is then `w_ij = gauss_ij / g_j`, a ratio of independent normals,
          i.e. i.i.d. Cauchy per coordinate, as the L1 kernel needs.

        With `fixed`, B, G and C are created non-trainable; otherwise
        trainable, for the caller to flag.
        """
        padded = next_power_of_two(input_dim)
        if kernel == "matern":
            lengths = MaternScaling(matern_t, padded, offset_seed(seed, "scale"))
        else:
            lengths = ChiScaling(padded, seed=offset_seed(seed, "scale"))
        if kernel == "laplacian":
            signs = ReciprocalNormal(seed=offset_seed(seed, "signs"))
        else:
            signs = default_signs(seed)
        if structure == "orthogonal":
            gaussian = RademacherSigns(seed=offset_seed(seed, "gaussian"))
        else:
            gaussian = default_gaussian(seed)

        def scale_initializer(shape, dtype=None):
            # C_i = length_i / ||G||_F of its block: rows get the drawn
            # lengths. Computed from G where it lives (no trip to the host).
            norms = ops.sqrt(ops.sum(ops.square(self.gaussian), axis=1))
            per_row = ops.repeat(norms, padded)[:outputs]
            return lengths(shape, dtype) / ops.cast(per_row, dtype)

        flags = {"trainable": False} if fixed else {}
        return self.build_fastfood(
            input_dim,
            outputs,
            signs={"initializer": signs, **flags},
            gaussian={"initializer": gaussian, **flags},
            scale={"initializer": scale_initializer, **flags},
            seed=seed,
            scale_name=scale_name,
        )

    def fastfood_projection(self, inputs, factor=1.0, bias=None, input_scale=None):
        """`fastfood_projection(self, inputs, factor, bias, input_scale)`."""
        return fastfood_projection(self, inputs, factor, bias, input_scale)

    def load_own_variables(self, store):
        super().load_own_variables(store)
        check_loaded_permutation(self)
