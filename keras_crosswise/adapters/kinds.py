"""The adapter kinds: one class each, registered once, as Keras registers its
quantization modes (`keras/src/quantizers/mode_registry.py`).

A kind says what a `DiagonalAdapter` of it learns and computes: its vectors
(`build`), its forward pass (`call`), its merge into the wrapped layer's
weights (`merged`), the layers `adapt` takes by default in a keras-hub model
(`target_names`), and whether it acts on the layer's input (then an
EinsumDense must keep its contracted axes last). The weights it creates are
the adapter's own variables: `save_adapters` stores them by name, and a
`.keras` file by their order of creation. CONTRIBUTING's "Adding an adapter
kind" walks through a new one.
"""

import keras
import numpy as np
from keras import ops

from keras_crosswise.layers._fastfood_projection import (
    build_fastfood,
    check_loaded_permutation,
    default_gaussian,
    default_signs,
    fastfood_projection,
)
from keras_crosswise.ops.cz import scale_shift

# keras-hub's layer names: what `Backbone.enable_lora` targets, and (IA)³'s
# places (keys, values, the feed-forward network's second layer).
ATTENTION_KEYS_VALUES = ("key", "key_dense", "value", "value_dense")
FEEDFORWARD_OUTPUTS = ("feedforward_output_dense", "ffw_linear")

_KINDS = {}


class AdapterKind:
    """One kind of diagonal adapter. Subclass it, set `name`, implement
    `build`, `call` and `merged`, and register the class with
    `register_kind`; `adapt(model, kind=name)` then uses it.

    Each method receives the `DiagonalAdapter` (`adapter`): its wrapped
    layer (`adapter.layer`, whose call computes `W x + b`), its activation
    (`adapter.activation`), `adapter.feature_shape()` (one entry per output
    feature of the kernel) and `adapter.input_shape_of_kernel()`.
    """

    name = None
    # Whether the kind acts on the layer's input (an EinsumDense must then
    # keep its contracted axes last in the input).
    on_input = False
    # Whether `adapt(feedforward=...)` applies (the kind scales the input of
    # the layers it names instead of the output).
    takes_feedforward = False

    def build(self, adapter):
        """Create the kind's weights with `adapter.add_weight`, as attributes
        of `adapter`; the adapter computes its wrapped layer at start."""
        raise NotImplementedError

    def call(self, adapter, inputs):
        """The adapter's output, activation included (`adapter.activation`)."""
        raise NotImplementedError

    def merged(self, adapter, kernel, bias):
        """The wrapped layer's `(kernel, bias)` (float64 NumPy; `bias` may be
        `None`) with the adapter folded in, or a ValueError where no such
        weights exist."""
        raise NotImplementedError

    def target_names(self, default_lora_names):
        """The layer names `adapt` takes by default inside a keras-hub
        backbone, given its `default_lora_layer_names()`."""
        return set(default_lora_names)

    def fixed_weights(self, adapter):
        """The kind's weights that never learn (fixed random draws)."""
        return []

    def load_variables(self, adapter, store, load):
        """Load the adapter's variables from a `.keras` file's `store`: by
        default `load(store)` (Keras's own loading, by order of creation);
        a kind overrides it to read an earlier layout or check what it
        loaded."""
        load(store)


def register_kind(kind_class):
    """Register an `AdapterKind` subclass under its `name` (once); returns
    the class, so that it serves as a decorator."""
    if not (isinstance(kind_class, type) and issubclass(kind_class, AdapterKind)):
        raise TypeError(
            f"`kind_class` must be a subclass of AdapterKind; got {kind_class!r}."
        )
    name = kind_class.name
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"{kind_class.__name__}.name must be an identifier string; got {name!r}."
        )
    if name in _KINDS:
        raise ValueError(f"An adapter kind named {name!r} is registered already.")
    missing = [
        method
        for method in ("build", "call", "merged")
        if getattr(kind_class, method) is getattr(AdapterKind, method)
    ]
    if missing:
        raise TypeError(f"{kind_class.__name__} must implement {missing}.")
    _KINDS[name] = kind_class
    return kind_class


def get_kind(name, feedforward=False):
    """The registered kind `name` (an instance), or a ValueError naming the
    registered ones."""
    if not isinstance(name, str) or name not in _KINDS:
        raise ValueError(f"`kind` must be one of {registered_kinds()}; got {name!r}.")
    kind = _KINDS[name]()
    if feedforward and not kind.takes_feedforward:
        raise ValueError(f"`feedforward=True` goes with kind='ia3'; got kind={name!r}.")
    kind.feedforward = bool(feedforward)
    return kind


def registered_kinds():
    """The names of the registered kinds, in order of registration."""
    return tuple(_KINDS)


@register_kind
class CZ(AdapterKind):
    """`y = activation(c * (W x) + b)`: the paper's c&z operand (Eq. 6) on W's
    output, before the bias: c -> `scale`, ones at start."""

    name = "cz"

    def build(self, adapter):
        adapter.scale = adapter.add_weight(
            name="scale", shape=adapter.feature_shape(), initializer="ones"
        )

    def call(self, adapter, inputs):
        return adapter.activation(self.pre_activation(adapter, inputs))

    def pre_activation(self, adapter, inputs):
        """c (W x) + b: as x (W c) + b where the adapter folds c into the
        kernel (`DiagonalAdapter.folds`: eager PyTorch, a layer wider out
        than in, on many rows), else as c (W x + b) + (1 - c) b (the layer's
        own call gives W x + b), in one `scale_shift`."""
        if adapter.folds(inputs):
            return adapter.folded(inputs, self.bias_after(adapter))
        return scale_shift(adapter.layer(inputs), adapter.scale, self.shift(adapter))

    def bias_after(self, adapter):
        """The bias of the adapted layer: b, or `None`."""
        return adapter.layer.bias

    def shift(self, adapter):
        """What is added after the scale: (1 - c) b, or `None`."""
        if adapter.layer.bias is None:
            return None
        return (1.0 - adapter.scale) * adapter.layer.bias

    def merged(self, adapter, kernel, bias):
        return kernel * adapter.scale_in_kernel_layout(_numpy64(adapter.scale)), bias


@register_kind
class CZBias(CZ):
    """c&z plus a learned bias offset (BitFit's bias, kept apart from b):
    `bias_offset`, zeros at start (none for a layer without a bias)."""

    name = "cz_bias"

    def build(self, adapter):
        super().build(adapter)
        if adapter.layer.bias is not None:
            # Not "bias": the adapter has its layer's name, and two weights
            # of one path collide where PyTorch keys parameters by path.
            adapter.bias = adapter.add_weight(
                name="bias_offset",
                shape=adapter.layer.bias.shape,
                initializer="zeros",
            )

    def bias_after(self, adapter):
        bias = super().bias_after(adapter)
        return bias if adapter.bias is None else bias + adapter.bias

    def shift(self, adapter):
        shift = super().shift(adapter)
        return shift if adapter.bias is None else shift + adapter.bias

    def merged(self, adapter, kernel, bias):
        kernel, bias = super().merged(adapter, kernel, bias)
        if adapter.bias is not None:
            bias = bias + _numpy64(adapter.bias)
        return kernel, bias

    def load_variables(self, adapter, store, load):
        if adapter.bias is None or len(store.keys()) != 1:
            return load(store)
        # Saved by 0.3, where "cz_bias" trained the layer's own bias (loaded
        # with the layer): the offset stays zero.
        adapter.scale.assign(store["0"])
        return None


@register_kind
class IA3(AdapterKind):
    """(IA)³ (Liu et al. 2022): `y = l * layer(x)` (keys and values: after the
    bias and the activation) or, with `feedforward`, `y = layer(l * x)` (the
    feed-forward network's second layer): l -> `scale`, ones at start."""

    name = "ia3"
    takes_feedforward = True

    @property
    def on_input(self):
        return self.feedforward

    def build(self, adapter):
        shape = (
            adapter.input_shape_of_kernel()
            if self.feedforward
            else adapter.feature_shape()
        )
        adapter.scale = adapter.add_weight(
            name="scale", shape=shape, initializer="ones"
        )

    def call(self, adapter, inputs):
        if self.feedforward:
            return adapter.activation(adapter.layer(scale_shift(inputs, adapter.scale)))
        if _is_linear(adapter.activation) and adapter.folds(inputs):
            # l (W x + b) = x (W l) + l b, as CZ folds c.
            bias = adapter.layer.bias
            return adapter.folded(
                inputs, None if bias is None else bias * adapter.scale
            )
        return scale_shift(adapter.activation(adapter.layer(inputs)), adapter.scale)

    def merged(self, adapter, kernel, bias):
        scale = _numpy64(adapter.scale)
        if self.feedforward:
            rows = kernel.reshape(adapter.input_size, -1) * scale.reshape(-1, 1)
            return rows.reshape(kernel.shape), bias
        if not _is_linear(adapter.activation):
            activation = keras.activations.serialize(adapter.activation)
            raise ValueError(
                f"Cannot merge the (IA)³ adapter of '{adapter.name}': it scales "
                f"the output after the layer's activation {activation!r}, which "
                "no kernel can hold. Keep the adapter, or target the next layer "
                "with feedforward=True."
            )
        kernel = kernel * adapter.scale_in_kernel_layout(scale)
        if bias is not None:
            bias = bias * scale.reshape(adapter.feature_shape())
        return kernel, bias

    def target_names(self, default_lora_names):
        return set(ATTENTION_KEYS_VALUES + FEEDFORWARD_OUTPUTS)


@register_kind
class Fastfood(AdapterKind):
    """`y = activation(W x + s * F(d * x) + b)`: learned diagonals around a
    fixed random transform, as VeRA, with McKernel's Fastfood transform
    F = H G Pi H B (Eq. 14, scaled to keep the input's second moment): d ->
    `input_scale` (ones at start), s -> `output_scale` (zeros: the delta
    starts at zero), B -> `signs`, Pi -> `permutation`, G -> `gaussian`
    (fixed)."""

    name = "fastfood"
    on_input = True

    def build(self, adapter):
        adapter.input_scale = adapter.add_weight(
            name="input_scale", shape=(adapter.input_size,), initializer="ones"
        )
        seed = adapter.seed
        build_fastfood(
            adapter,
            adapter.input_size,
            adapter.output_size,
            signs={"initializer": default_signs(seed), "trainable": False},
            gaussian={
                "initializer": default_gaussian(seed, normalized=True),
                "trainable": False,
            },
            scale={"initializer": "zeros"},
            seed=seed,
            scale_name="output_scale",
        )

    def call(self, adapter, inputs):
        outputs = adapter.layer(inputs)  # W x + b, as the layer computes it
        delta = adapter.shaped_as_outputs(
            self._delta(adapter, adapter.flat_inputs(inputs))
        )
        return adapter.activation(outputs + ops.cast(delta, outputs.dtype))

    def merged(self, adapter, kernel, bias):
        identity = ops.eye(adapter.input_size, dtype="float32")
        delta = ops.convert_to_numpy(self._delta(adapter, identity))
        return kernel + np.asarray(delta, "float64").reshape(kernel.shape), bias

    def _delta(self, adapter, flat):
        """s * F(d * x) on flat input features, variance-preserving as
        FastfoodDense (H H = n I, twice)."""
        n = adapter.padded_dim
        normalization = float(np.sqrt(n / adapter.input_size) / n)
        return fastfood_projection(
            adapter, flat, normalization, input_scale=adapter.input_scale
        )

    def fixed_weights(self, adapter):
        return [adapter.signs, adapter.gaussian]

    def load_variables(self, adapter, store, load):
        load(store)
        check_loaded_permutation(adapter)


def _is_linear(activation):
    return keras.activations.serialize(activation) == "linear"


def _numpy64(weight):
    return np.asarray(ops.convert_to_numpy(weight), "float64")
