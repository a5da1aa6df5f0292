"""Which layers a surgery may take: the one policy of `adapt` and `compress`
(built, not quantized beyond what the caller takes, no LoRA, no adapter,
not shared, not inside a TimeDistributed or RNN), and the one error for a
choice that takes nothing."""

from keras_crosswise._surgery.selection import (
    find_layers,
    select_layers,
    why_not_swappable,
)
from keras_crosswise._validation import layer_state_problem


class Adapter:
    """Marks a layer that wraps another to adapt it (the adapters'
    `DiagonalAdapter`): a surgery neither adapts it again nor compresses
    through it. A plain mixin, so that this floor need not import the
    adapters."""


def adapters_in(model):
    """The adapter wrappers inside `model`, outermost first."""
    return find_layers(model, lambda layer: isinstance(layer, Adapter))


def why_not_eligible(model, layer, types, quantization=(None,)):
    """`None` if a surgery on `model` may take `layer` (one of `types`),
    else the reason."""
    if isinstance(layer, Adapter):
        return "it is already adapted (`merge` or `unload` the model first)"
    if not isinstance(layer, types):
        wanted = " or ".join(t.__name__ for t in types)
        return f"it is a {type(layer).__name__}, not a {wanted} layer"
    problem = layer_state_problem(layer, quantization)
    if problem is not None:
        return f"it {problem}"
    return why_not_swappable(model, layer)


def choose(model, spec, why_not, types, action, given, detail=str):
    """The layers of `model` that `spec` (names or paths, a regular
    expression or a callable) selects, each passing `why_not`; a ValueError
    when none does: "No Dense layer of 'm' to compress with layers={given}
    {detail()}." (`given`: the user's argument; `detail`, called only for
    the error, describes the model further)."""
    chosen = select_layers(model, spec, why_not)
    if not chosen:
        wanted = " or ".join(t.__name__ for t in types)
        raise ValueError(
            f"No {wanted} layer of '{model.name}' to {action} with "
            f"layers={given!r}{detail()}."
        )
    return chosen


def refuse_adapters(model, action):
    """A clear error for a model with adapters on, before `action`."""
    adapters = adapters_in(model)
    if adapters:
        raise ValueError(
            f"`model` '{model.name}' holds {len(adapters)} adapter(s) (on "
            f"{[a.layer.name for a in adapters[:5]]}): merge them into their "
            "layers with `keras_crosswise.adapters.merge(model)` (or take them "
            f"off with `unload`) before {action}."
        )
