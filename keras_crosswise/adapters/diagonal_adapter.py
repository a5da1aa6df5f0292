"""DiagonalAdapter: learned diagonals on a frozen Dense or EinsumDense layer."""

import keras
import numpy as np
from keras import ops

from keras_crosswise._validation import check_seed
from keras_crosswise.initializers.normalized_gaussian import NormalizedGaussian
from keras_crosswise.initializers.rademacher_signs import RademacherSigns
from keras_crosswise.layers._fastfood_projection import FastfoodProjection
from keras_crosswise.layers._weight_flags import PerWeightTrainable

KINDS = ("cz", "cz_bias", "fastfood")


@keras.saving.register_keras_serializable(package="keras_crosswise")
class DiagonalAdapter(PerWeightTrainable, FastfoodProjection, keras.layers.Layer):
    """A frozen Dense or EinsumDense layer with learned diagonals (fine-tuning).

    With the wrapped layer's kernel W (frozen), bias b and activation:

    - `kind="cz"`: `y = activation(c * (W x) + b)`, the c&z operand of the
      paper (Eq. 6) on W's output, as (IA)^3 rescales activations: c ->
      `scale`, one entry per output feature, ones at start; b frozen.
    - `kind="cz_bias"`: the same, and b learns too (BitFit's bias).
    - `kind="fastfood"`: `y = activation(W x + s * F(d * x) + b)`, VeRA's
      learned diagonals around a frozen random matrix, with McKernel's
      Fastfood transform F = H G Pi H B (Eq. 14, scaled to keep the input's
      second moment) instead of a stored dense random matrix: O(n log n)
      time and O(n) fixed weights. d -> `input_scale` (ones at start), s ->
      `output_scale` (zeros at start: the delta starts at zero), B ->
      `signs`, Pi -> `permutation`, G -> `gaussian` (fixed); b frozen.

    At start the adapter computes exactly what the wrapped layer does.
    `keras_crosswise.adapters.merge` folds it back into a plain layer. For an
    EinsumDense, c has one entry per output feature of the kernel (e.g.
    `(heads, head_dim)` for an attention projection); `"fastfood"` needs the
    contracted axes last in the input and the kernel's output axes last in
    the output, in the kernel's order (every Keras attention projection).

    Args:
        layer: a built `keras.layers.Dense` or `keras.layers.EinsumDense`
            (or its serialized config, on load). The adapter owns it.
        kind: `"cz"`, `"cz_bias"` or `"fastfood"`.
        seed: integer or `None`, the seed of F (`"fastfood"`).
        **kwargs: base layer keyword arguments; `name` defaults to the
            wrapped layer's.

    Input shape:
        The wrapped layer's.

    Output shape:
        The wrapped layer's.

    Example:

    >>> dense = keras.layers.Dense(6, activation="relu")
    >>> dense.build((None, 4))
    >>> adapter = keras_crosswise.adapters.DiagonalAdapter(dense, kind="cz")
    >>> x = np.random.default_rng(0).standard_normal((2, 4)).astype("float32")
    >>> same = keras.ops.convert_to_numpy(adapter(x) - dense(x))
    >>> print(np.allclose(same, 0))  # c starts at ones
    True
    >>> print(*(w.name for w in adapter.trainable_weights))  # c alone learns
    scale

    References:
        Liu et al., "Few-Shot Parameter-Efficient Fine-Tuning is Better and
        Cheaper than In-Context Learning" ((IA)^3), NeurIPS 2022. Kopiczko et
        al., "VeRA: Vector-based Random Matrix Adaptation", ICLR 2024. Curtó,
        Zarza et al., arXiv:1905.10324 (Eq. 6, 13-14).
    """

    def __init__(self, layer, kind="cz_bias", seed=None, **kwargs):
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}; got {kind!r}.")
        check_adaptable(layer)
        kwargs.setdefault("name", layer.name)
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(**kwargs)
        self.layer, self.kind, self.seed = layer, kind, check_seed(seed)
        self.output_axes, self.input_size, self.output_size = _einsum_axes(layer)
        einsum = isinstance(layer, keras.layers.EinsumDense)
        if kind == "fastfood" and einsum and self.output_axes is None:
            raise ValueError(
                f"`kind='fastfood'` needs the contracted axes last in the input "
                f"and the kernel's output axes last in the output; "
                f"'{layer.name}' has equation {layer.equation!r}. Use kind='cz' "
                "or 'cz_bias' for it."
            )
        self._build_adapter()
        self.built = True

    def _build_adapter(self):
        feature_shape = self._feature_shape()
        if self.kind == "fastfood":
            self.input_scale = self.add_weight(
                name="input_scale", shape=(self.input_size,), initializer="ones"
            )
            self.build_fastfood(
                self.input_size,
                self.output_size,
                signs={"initializer": RademacherSigns(self.seed), "trainable": False},
                gaussian={
                    "initializer": NormalizedGaussian(_offset(self.seed)),
                    "trainable": False,
                },
                scale={"initializer": "zeros"},
                seed=self.seed,
                scale_name="output_scale",
            )
        else:
            self.scale = self.add_weight(
                name="scale", shape=feature_shape, initializer="ones"
            )
        self._apply_weight_flags()

    def _feature_shape(self):
        if not isinstance(self.layer, keras.layers.EinsumDense):
            return (self.layer.units,)
        shape = [int(size) for size in self._broadcast_shape()]
        while len(shape) > 1 and shape[0] == 1:  # broadcasting needs no leading 1s
            shape = shape[1:]
        return tuple(shape)

    def _broadcast_shape(self):
        """c's shape, aligned with the trailing output axes (1 where the
        output axis is not one of the kernel's)."""
        equation = self.layer.equation
        inputs_spec, kernel_spec = equation.split("->")[0].split(",")
        output_spec = equation.split("->")[1].replace("...", "")
        kernel_shape = dict(zip(kernel_spec, self.layer.kernel.shape, strict=True))
        return [
            kernel_shape[axis] if axis in kernel_spec and axis not in inputs_spec else 1
            for axis in output_spec
        ]

    def _apply_weight_flags(self):
        # Variable flags: only the adapter's diagonals (and the bias for
        # "cz_bias") learn (PerWeightTrainable re-applies them).
        for weight in self.layer.weights:
            is_bias = weight is getattr(self.layer, "bias", None)
            weight.trainable = self.trainable and is_bias and self.kind == "cz_bias"
        for fixed in ("signs", "gaussian"):
            if getattr(self, fixed, None) is not None:
                getattr(self, fixed).trainable = False

    def linear_delta(self, inputs):
        """s * F(d * x) on the flat input features, shaped as W x."""
        flat = ops.reshape(
            inputs, (*ops.shape(inputs)[: -self._contracted_rank()], self.input_size)
        )
        delta = (
            self.fastfood_projection(flat * self.input_scale) * self._normalization()
        )
        leading = ops.shape(flat)[:-1]
        return ops.reshape(delta, (*leading, *self._output_tail()))

    def _normalization(self):
        # Variance-preserving, as FastfoodDense: H H = n I twice.
        return float(np.sqrt(self.padded_dim / self.input_size) / self.padded_dim)

    def _contracted_rank(self):
        if isinstance(self.layer, keras.layers.EinsumDense):
            return len(self.output_axes[0])
        return 1

    def _output_tail(self):
        if isinstance(self.layer, keras.layers.EinsumDense):
            return self.output_axes[1]
        return (self.layer.units,)

    def call(self, inputs):
        layer = self.layer
        if isinstance(layer, keras.layers.EinsumDense):
            outputs = ops.einsum(layer.equation, inputs, layer.kernel)
        else:
            outputs = ops.matmul(inputs, layer.kernel)
        if self.kind == "fastfood":
            outputs = outputs + ops.cast(self.linear_delta(inputs), outputs.dtype)
        else:
            outputs = outputs * self.scale
        if layer.bias is not None:
            outputs = outputs + layer.bias
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def merged_kernel(self):
        """The wrapped layer's kernel with the adapter folded in, as NumPy:
        `layer(x)` with it equals `adapter(x)`."""
        kernel = np.asarray(ops.convert_to_numpy(self.layer.kernel), "float64")
        if self.kind != "fastfood":
            scale = np.asarray(ops.convert_to_numpy(self.scale), "float64")
            return kernel * self._scale_in_kernel_layout(scale)
        identity = ops.eye(self.input_size, dtype="float32")
        delta = ops.convert_to_numpy(
            self.fastfood_projection(identity * self.input_scale)
            * self._normalization()
        )
        return kernel + np.asarray(delta, "float64").reshape(kernel.shape)

    def _scale_in_kernel_layout(self, scale):
        """c broadcast against the kernel: c's axes are the kernel's output
        axes, in the output's order."""
        if not isinstance(self.layer, keras.layers.EinsumDense):
            return scale[None, :]
        inputs_spec, kernel_spec = self.layer.equation.split("->")[0].split(",")
        output_spec = self.layer.equation.split("->")[1].replace("...", "")
        sizes = dict(zip(kernel_spec, self.layer.kernel.shape, strict=True))
        own = [a for a in output_spec if a in kernel_spec and a not in inputs_spec]
        values = scale.reshape([sizes[a] for a in own])
        in_kernel_order = "".join(a for a in kernel_spec if a in own)
        values = np.einsum(f"{''.join(own)}->{in_kernel_order}", values)
        return values.reshape([sizes[a] if a in own else 1 for a in kernel_spec])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layer": keras.saving.serialize_keras_object(self.layer),
                "kind": self.kind,
                "seed": self.seed,
            }
        )
        return config


def _offset(seed):
    return None if seed is None else seed + 2  # G, as the layers' seed offsets


def check_adaptable(layer):
    """A clear error unless `layer` is a built, float, LoRA-free Dense or
    EinsumDense."""
    if not isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)):
        raise TypeError(
            "Only Dense and EinsumDense layers take a diagonal adapter; "
            f"'{getattr(layer, 'name', layer)}' is a {type(layer).__name__}."
        )
    if not layer.built:
        raise ValueError(f"'{layer.name}' must be built before it is adapted.")
    if getattr(layer, "quantization_mode", None) is not None:
        raise ValueError(
            f"'{layer.name}' is quantized ({layer.quantization_mode!r}); adapt "
            "the float model."
        )
    if getattr(layer, "lora_enabled", False):
        raise ValueError(f"'{layer.name}' has LoRA enabled; a layer takes one adapter.")


def _einsum_axes(layer):
    """For an EinsumDense: `((contracted sizes), (output tail sizes))` when the
    contracted axes end the input and the kernel's output axes end the
    output in the kernel's order, else `None`; plus the flat input and
    output sizes. For a Dense: `(None, d, units)`."""
    if not isinstance(layer, keras.layers.EinsumDense):
        return None, int(layer.kernel.shape[0]), int(layer.units)
    operands, output_spec = layer.equation.split("->")
    inputs_spec, kernel_spec = operands.split(",")
    output_spec = output_spec.replace("...", "")
    inputs_spec = inputs_spec.replace("...", "")
    sizes = dict(zip(kernel_spec, (int(s) for s in layer.kernel.shape), strict=True))
    contracted = [axis for axis in kernel_spec if axis in inputs_spec]
    produced = [axis for axis in kernel_spec if axis not in inputs_spec]
    input_size = int(np.prod([sizes[a] for a in contracted]))
    output_size = int(np.prod([sizes[a] for a in produced]))
    clean = (
        kernel_spec == "".join(contracted + produced)
        and inputs_spec.endswith("".join(contracted))
        and output_spec.endswith("".join(produced))
        and set(output_spec) <= set(inputs_spec) | set(produced)
    )
    if not clean:
        return None, input_size, output_size
    axes = (tuple(sizes[a] for a in contracted), tuple(sizes[a] for a in produced))
    return axes, input_size, output_size
