"""The adapters' lifecycle: `adapt`, `merge`, `unload`, `disable` / `enable`:
diagonal adapters put on a model in place, as Keras's `enable_lora` and
peft's `get_peft_model` do (their file: `adapters.files`; the layers they
take: `adapters.targeting`)."""

import contextlib

from keras_crosswise._keras_internals import forget_compiled_functions
from keras_crosswise._surgery import (
    check_model,
    find_layers,
    replace_in_place,
    unwrap_unchanged,
)
from keras_crosswise._surgery.eligibility import adapters_in
from keras_crosswise._validation import LAYER_SEED_STRIDE, check_seed
from keras_crosswise.adapters.diagonal_adapter import DiagonalAdapter
from keras_crosswise.adapters.kinds import get_kind
from keras_crosswise.adapters.targeting import (
    choose_targets,
    feedforward_targets,
    trained_layers,
)


def adapt(model, kind="cz_bias", layers=None, train=None, seed=None, feedforward=None):
    """Put diagonal adapters on a trained model's Dense and EinsumDense
    layers, in place, and freeze everything else.

    Each chosen layer is wrapped, where it sits, in a `DiagonalAdapter` that
    holds the layer itself: no weight is copied, so memory grows by the
    adapters only. Afterwards only the adapters train, plus the layers named
    in `train` (a new head, say: peft's `modules_to_save`); every other layer
    is frozen (`trainable = False`, so BatchNormalization keeps its
    statistics too). The layers may sit anywhere: in nested models, inside
    custom layers (keras-hub's `TransformerEncoder`), in subclassed models.
    Compile the model after `adapt` (it marks it uncompiled, as its trainable
    weights changed). `unload` takes the adapters off again, `merge` folds
    them into the layers.

    Args:
        model: a built `keras.Model` (Sequential, functional, a keras-hub
            backbone or task, or subclassed).
        kind: `"cz"`, `"cz_bias"`, `"ia3"` or `"fastfood"`; see
            `DiagonalAdapter`.
        layers: which layers to adapt (peft's `target_modules`): `None` for
            the default, a list of layer names or paths (e.g.
            `"transformer_layer_0/self_attention_layer/query"`), a regular
            expression matched in full against layer paths, or a callable
            `layer -> bool` over the Dense and EinsumDense layers. The default
            on a model holding a keras-hub backbone is what its
            `enable_lora` targets (the query and value projections) or, for
            `"ia3"`, the keys, values and feed-forward output layers; on other
            models, every Dense and EinsumDense layer not adapted yet.
        train: the layers to train in full besides the adapters (names,
            paths, a regular expression or a callable over every layer;
            peft's `modules_to_save`); `None` for none. A layer in `train`,
            or inside one, is not adapted: the default targets pass over it,
            and naming it in `layers` too is refused. `save_adapters` stores
            all of its variables (a BatchNormalization's moving statistics
            too).
        seed: integer or `None`, the seed of the Fastfood transforms (the
            i-th adapter gets `seed + 8 i`).
        feedforward: for `"ia3"`, which of the chosen layers get their input
            scaled instead of their output (peft's `feedforward_modules`),
            given as `layers` is; `None`: keras-hub's feed-forward output
            layers.

    Returns:
        `model`, adapted.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((8,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(3, name="head"),
    ... ])
    >>> model = keras_crosswise.adapters.adapt(
    ...     model, kind="cz", layers=["hidden"], train=["head"]
    ... )
    >>> sum(int(np.prod(w.shape)) for w in model.trainable_weights)  # 16 + 51
    67
    """
    behaviour = get_kind(kind)
    check_model(model)
    seed = check_seed(seed)
    trained = trained_layers(model, train)
    chosen = choose_targets(model, behaviour, layers, trained)
    inputs_scaled = feedforward_targets(model, behaviour, feedforward, chosen)
    for i, layer in enumerate(chosen):
        adapter = DiagonalAdapter(
            layer,
            kind=kind,
            seed=None if seed is None else seed + LAYER_SEED_STRIDE * i,
            feedforward=id(layer) in inputs_scaled,
        )
        replace_in_place(model, layer, adapter)
    freeze_all_but(model, trained, [])
    forget_compiled_functions(model, uncompile=True)
    return model


def unload(model):
    """Take every adapter off `model`, in place, without merging: each
    adapted layer is back where it was, with its own activation, computing
    exactly what it did before `adapt`. The layers stay frozen as `adapt`
    left them (`model.trainable = True` unfreezes them).

    Returns:
        `model`, without adapters.
    """
    for adapter in adapters_of(model, "unload"):
        adapter.layer.activation = adapter.activation
        replace_in_place(model, adapter, adapter.layer)
    unwrap_unchanged(model)
    forget_compiled_functions(model, uncompile=True)
    return model


def merge(model):
    """Fold every adapter into its layer's kernel and bias, in place, and take
    the adapters off (peft's `merge_and_unload`): plain Dense and EinsumDense
    layers again, computing what the adapted model did, at no extra cost.

    Returns:
        `model`, merged.

    Example:

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> merged = keras_crosswise.adapters.merge(
    ...     keras_crosswise.adapters.adapt(model, kind="cz")
    ... )
    >>> type(merged.layers[0]).__name__
    'Dense'
    """
    adapters = adapters_of(model, "merge")
    folded = [(adapter, adapter.merged_weights()) for adapter in adapters]
    for adapter, (kernel, bias) in folded:
        layer = adapter.layer
        layer.kernel.assign(kernel.astype(layer.kernel.dtype))
        if bias is not None:
            layer.bias.assign(bias.astype(layer.bias.dtype))
    return unload(model)


def disable(model):
    """Make every adapter of `model` compute its layer alone (the base model's
    outputs), without removing it; `enable` turns them back on."""
    _switch(model, False)


def enable(model):
    """Turn the adapters of `model` back on after `disable`."""
    _switch(model, True)


@contextlib.contextmanager
def disabled(model):
    """The base model's outputs inside the block (peft's `disable_adapter`):

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> model = keras_crosswise.adapters.adapt(model, kind="ia3")
    >>> with keras_crosswise.adapters.disabled(model):
    ...     base = model(np.ones((1, 4)))
    """
    disable(model)
    try:
        yield model
    finally:
        enable(model)


def adapters_of(model, action):
    check_model(model)
    adapters = adapters_in(model)
    if not adapters:
        raise ValueError(
            f"`model` '{model.name}' has no adapters to {action} (no "
            "DiagonalAdapter layer); `keras_crosswise.adapters.adapt` adds them."
        )
    return adapters


def own_weights(adapter):
    """The adapter's own weights (learned vectors and fixed draws), without
    the wrapped layer's."""
    inner = {id(w) for w in adapter.layer.weights}
    return [w for w in adapter.weights if id(w) not in inner]


def freeze_all_but(model, layers, weights):
    """Freeze every layer of `model` but its adapters' learned vectors, the
    given layers and the given weights (keras-hub's `enable_lora` freezes
    so: layer by layer, then per variable)."""
    model.trainable = True
    for layer in find_layers(model, lambda layer: True):
        layer.trainable = False
    for adapter in adapters_in(model):
        adapter.trainable = True  # re-applies its own flags: W and F stay fixed
    for layer in layers:
        layer.trainable = True
    for weight in weights:
        weight.trainable = True


def _switch(model, on):
    for adapter in adapters_of(model, "enable" if on else "disable"):
        adapter.enabled = on
    forget_compiled_functions(model)
