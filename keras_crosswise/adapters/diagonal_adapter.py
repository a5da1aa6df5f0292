"""DiagonalAdapter: learned diagonals on a frozen Dense or EinsumDense layer."""

import keras
import numpy as np
from keras import ops

from keras_crosswise import _backends
from keras_crosswise._surgery.eligibility import Adapter
from keras_crosswise._validation import check_seed, layer_state_problem
from keras_crosswise.adapters.kinds import get_kind, registered_kinds
from keras_crosswise.layers._weight_flags import PerWeightTrainable

KINDS = registered_kinds()  # the built-in kinds (adapters.kinds registers more)


@keras.saving.register_keras_serializable(package="keras_crosswise")
class DiagonalAdapter(PerWeightTrainable, Adapter, keras.layers.Layer):
    """A frozen Dense or EinsumDense layer with learned diagonals (fine-tuning).

    With the wrapped layer's kernel W and bias b (both frozen) and its
    activation:

    - `kind="cz"`: `y = activation(c * (W x) + b)`, the c&z operand of the
      paper (Eq. 6) on W's output, before the bias and the activation: c ->
      `scale`, one entry per output feature, ones at start.
    - `kind="cz_bias"`: the same plus a learned bias offset (BitFit's bias,
      kept apart from b): `bias_offset`, zeros at start.
    - `kind="ia3"`: (IA)³ (Liu et al. 2022): `y = l * layer(x)` (keys and
      values: the output, after the bias and the activation) or, with
      `feedforward=True`, `y = layer(l * x)` (the feed-forward network's
      second layer: its input, i.e. after the first layer's activation): l ->
      `scale`, ones at start.
    - `kind="fastfood"`: `y = activation(W x + s * F(d * x) + b)`: learned
      diagonals around a fixed random transform, as VeRA, with McKernel's
      Fastfood transform F = H G Pi H B (Eq. 14, scaled to keep the input's
      second moment) instead of VeRA's two stored random matrices, and d on
      the input where VeRA puts its vector between them: O(n log n) time and
      O(n) fixed weights. d -> `input_scale` (ones at start), s ->
      `output_scale` (zeros at start: the delta starts at zero), B ->
      `signs`, Pi -> `permutation`, G -> `gaussian` (fixed).

    At start the adapter computes exactly what the wrapped layer does. The
    wrapped layer is used as it is, never copied: its own call computes
    `W x + b`, so a layer that Keras quantized (`int8`, `int4`, before or
    after the adapter was added) computes with its dequantized kernel, as
    Keras's LoRA does. The adapter applies the layer's activation itself
    (the layer's own is set to linear while wrapped and given back by
    `keras_crosswise.adapters.unload`). `keras_crosswise.adapters.merge`
    folds the adapter into the layer's weights. Set `enabled = False` to
    compute the wrapped layer alone. For an EinsumDense, c has one entry per
    output feature of the kernel (e.g. `(heads, head_dim)` for an attention
    projection); `"fastfood"` and `"ia3"` with `feedforward=True` need the
    contracted axes last in the input (every Keras attention projection).

    Args:
        layer: a built `keras.layers.Dense` or `keras.layers.EinsumDense`
            (or its serialized config, on load).
        kind: `"cz"`, `"cz_bias"`, `"fastfood"` or `"ia3"`.
        seed: integer or `None`, the seed of F (`"fastfood"`).
        feedforward: bool, for `"ia3"`: scale the input (True) instead of
            the output.
        enabled: bool, whether the adapter acts (`False`: the wrapped layer
            alone, as after `keras_crosswise.adapters.disable`); saved with
            the layer.
        **kwargs: base layer keyword arguments; `name` defaults to the
            wrapped layer's.

    Input shape:
        The wrapped layer's.

    Output shape:
        The wrapped layer's.

    Example:

    >>> dense = keras.layers.Dense(6, activation="relu")
    >>> dense.build((None, 4))
    >>> x = np.random.default_rng(0).standard_normal((2, 4)).astype("float32")
    >>> before = keras.ops.convert_to_numpy(dense(x))
    >>> adapter = keras_crosswise.adapters.DiagonalAdapter(dense, kind="cz")
    >>> print(np.allclose(keras.ops.convert_to_numpy(adapter(x)), before))
    True
    >>> print(*(w.name for w in adapter.trainable_weights))  # c alone learns
    scale

    References:
        Liu et al., "Few-Shot Parameter-Efficient Fine-Tuning is Better and
        Cheaper than In-Context Learning" ((IA)³), NeurIPS 2022. Kopiczko et
        al., "VeRA: Vector-based Random Matrix Adaptation", ICLR 2024. Curtó,
        Zarza et al., arXiv:1905.10324 (Eq. 6, 13-14).
    """

    def __init__(
        self,
        layer,
        kind="cz_bias",
        seed=None,
        feedforward=False,
        enabled=True,
        **kwargs,
    ):
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        for name, value in (("feedforward", feedforward), ("enabled", enabled)):
            if not isinstance(value, bool):
                raise TypeError(f"`{name}` must be a bool; got {value!r}.")
        behaviour = get_kind(kind, feedforward)
        check_adaptable(layer)
        kwargs.setdefault("name", layer.name)
        kwargs.setdefault("dtype", _float_policy(layer.dtype_policy))
        super().__init__(**kwargs)
        self.layer, self.kind, self.seed = layer, kind, check_seed(seed)
        self.feedforward, self.enabled = feedforward, enabled
        self.behaviour = behaviour
        self.output_axes, self.input_size, self.output_size = _einsum_axes(layer)
        einsum = isinstance(layer, keras.layers.EinsumDense)
        if behaviour.on_input and einsum and self.output_axes is None:
            raise ValueError(
                f"`kind={kind!r}`{' with feedforward=True' if feedforward else ''} "
                "needs the contracted axes last in the input and the kernel's "
                f"output axes last in the output; '{layer.name}' has equation "
                f"{layer.equation!r}. Use kind='cz' or 'cz_bias' for it."
            )
        # The adapter applies the activation: the layer's call gives W x + b.
        self.activation = layer.activation
        layer.activation = keras.activations.linear
        self.bias = None  # cz_bias's offset, where the kind learns one
        behaviour.build(self)
        self._apply_weight_flags()
        self.built = True

    def input_shape_of_kernel(self):
        """The shape of the kernel's contracted input features."""
        if isinstance(self.layer, keras.layers.EinsumDense):
            return self.output_axes[0]
        return (self.input_size,)

    def feature_shape(self):
        """One entry per output feature of the kernel (for an EinsumDense,
        aligned with the output's trailing axes)."""
        if not isinstance(self.layer, keras.layers.EinsumDense):
            return (self.layer.units,)
        shape = [int(size) for size in self._broadcast_shape()]
        while len(shape) > 1 and shape[0] == 1:  # broadcasting needs no leading 1s
            shape = shape[1:]
        return tuple(shape)

    def _broadcast_shape(self):
        """c's shape, aligned with the trailing output axes (1 where the
        output axis is not one of the kernel's)."""
        inputs_spec, kernel_spec, output_spec = _specs(self.layer)
        kernel_shape = dict(zip(kernel_spec, self.layer.kernel.shape, strict=True))
        return [
            kernel_shape[axis] if axis in kernel_spec and axis not in inputs_spec else 1
            for axis in output_spec
        ]

    def _apply_weight_flags(self):
        # Variable flags: only the adapter's own vectors learn; the wrapped
        # layer and F stay fixed (PerWeightTrainable re-applies them).
        for weight in self.layer.weights:
            weight.trainable = False
        for weight in self.behaviour.fixed_weights(self):
            weight.trainable = False

    def flat_inputs(self, inputs):
        """`inputs` with the kernel's contracted axes flattened into one."""
        return ops.reshape(
            inputs, (*ops.shape(inputs)[: -self._contracted_rank()], self.input_size)
        )

    def shaped_as_outputs(self, flat):
        """Flat output features shaped as the wrapped layer's `W x`."""
        return ops.reshape(flat, (*ops.shape(flat)[:-1], *self._output_tail()))

    def _contracted_rank(self):
        if isinstance(self.layer, keras.layers.EinsumDense):
            return len(self.output_axes[0])
        return 1

    def _output_tail(self):
        if isinstance(self.layer, keras.layers.EinsumDense):
            return self.output_axes[1]
        return (self.layer.units,)

    def call(self, inputs):
        if not self.enabled:
            return self.activation(self.layer(inputs))
        return self.behaviour.call(self, inputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def merged_weights(self):
        """The wrapped layer's kernel and bias with the adapter folded in, as
        float64 NumPy (bias `None` if the layer has none): the layer with them
        (and its activation) computes what the adapter does. A clear error
        where no such weights exist (a quantized layer, or `"ia3"` on a
        layer's output after a nonlinear activation)."""
        if self.layer.quantization_mode is not None:
            raise ValueError(
                f"Cannot merge the adapter of '{self.name}': its layer is "
                f"quantized ({self.layer.quantization_mode!r}), and folding a "
                "float vector into its integer kernel would lose the fine-tuning. "
                "Keep the adapters (save_adapters) or adapt the float model."
            )
        kernel = np.asarray(ops.convert_to_numpy(self.layer.kernel), "float64")
        return self.behaviour.merged(self, kernel, _numpy64(self.layer.bias))

    def scale_in_kernel_layout(self, scale, einsum=np.einsum):
        """c broadcast against the kernel: c's axes are the kernel's output
        axes, in the output's order. A NumPy array by default; a tensor with
        `einsum=keras.ops.einsum`."""
        if not isinstance(self.layer, keras.layers.EinsumDense):
            return scale[None, :]
        inputs_spec, kernel_spec, output_spec = _specs(self.layer)
        sizes = dict(zip(kernel_spec, self.layer.kernel.shape, strict=True))
        own = [a for a in output_spec if a in kernel_spec and a not in inputs_spec]
        values = scale.reshape([sizes[a] for a in own])
        in_kernel_order = "".join(a for a in kernel_spec if a in own)
        values = einsum(f"{''.join(own)}->{in_kernel_order}", values)
        return values.reshape([sizes[a] if a in own else 1 for a in kernel_spec])

    def folds(self, inputs):
        """Whether the adapter's `scale` on the layer's outputs is folded into
        its kernel for this call (`folded`): on eager PyTorch with a gradient,
        where what the folded product keeps for the backward (the scaled
        kernel and the inputs, as keras-hub's LoRA keeps its merged kernel
        and the inputs) is smaller than what the vector's product keeps
        (the outputs, `scale_shift`): a layer whose outputs are wider than
        its inputs, on more rows than its input size. JAX's and
        TensorFlow's compiled graphs plan their own memory; a quantized
        layer computes through its own call."""
        if self.layer.quantization_mode or not _backends.keeps_output(
            inputs, self.scale.value
        ):
            return False
        rows = inputs.numel() // self.input_size
        kernel = int(np.prod(self.layer.kernel.shape))
        return rows * self.output_size > kernel + rows * self.input_size

    def folded(self, inputs, bias):
        """The wrapped layer's product with its kernel times `scale` (the
        vector folded into the kernel's output axes), plus `bias` (or
        `None`), before the activation."""
        kernel = self.layer.kernel * self.scale_in_kernel_layout(
            self.scale.value, ops.einsum
        )
        if isinstance(self.layer, keras.layers.EinsumDense):
            outputs = ops.einsum(self.layer.equation, inputs, kernel)
        else:
            outputs = ops.matmul(inputs, kernel)
        return outputs if bias is None else outputs + bias

    def load_own_variables(self, store):
        self.behaviour.load_variables(self, store, super().load_own_variables)

    def get_config(self):
        config = super().get_config()
        layer = keras.saving.serialize_keras_object(self.layer)
        layer["config"]["activation"] = keras.activations.serialize(self.activation)
        config.update({"layer": layer, "kind": self.kind, "seed": self.seed})
        if self.feedforward:
            config["feedforward"] = True
        if not self.enabled:  # `disable`d when saved: reloads disabled
            config["enabled"] = False
        return config


def _float_policy(policy):
    """The float policy of a (possibly quantized) layer: the adapter computes
    in floats around the layer, whatever the layer stores."""
    if policy.quantization_mode is None:
        return policy
    return keras.dtype_policies.get(policy.get_config()["source_name"])


def _numpy64(weight):
    if weight is None:
        return None
    return np.asarray(ops.convert_to_numpy(weight), "float64")


def _specs(layer):
    """An EinsumDense's input, kernel and output axes (without `...`)."""
    operands, output_spec = layer.equation.split("->")
    inputs_spec, kernel_spec = operands.split(",")
    return inputs_spec.replace("...", ""), kernel_spec, output_spec.replace("...", "")


QUANTIZATION = (None, "int8", "int4")  # the modes an adapter takes


def check_adaptable(layer):
    """A clear error unless `layer` is a built, LoRA-free Dense or
    EinsumDense without an adapter."""
    if not isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)):
        raise TypeError(
            "Only Dense and EinsumDense layers take a diagonal adapter; "
            f"'{getattr(layer, 'name', layer)}' is a {type(layer).__name__}."
        )
    problem = layer_state_problem(layer, QUANTIZATION)
    if problem is not None:
        raise ValueError(f"'{layer.name}' {problem}.")


def _einsum_axes(layer):
    """For an EinsumDense: `((contracted sizes), (output tail sizes))` when the
    contracted axes end the input and the kernel's output axes end the
    output in the kernel's order, else `None`; plus the flat input and
    output sizes. For a Dense: `(None, d, units)`."""
    if not isinstance(layer, keras.layers.EinsumDense):
        return None, int(layer.kernel.shape[0]), int(layer.units)
    inputs_spec, kernel_spec, output_spec = _specs(layer)
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
