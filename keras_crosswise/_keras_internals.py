"""The only place the package reads Keras internals, each where Keras 3 has no
public API for it. `tests/test_keras_internals.py` pins what each relies on,
so a Keras release that changes one fails there first."""

import contextlib

import keras

# The functions Keras's TensorFlow trainer traces for `fit`, `evaluate` and
# `predict` (`keras/src/backend/tensorflow/trainer.py`): a graph traced inside
# one of them runs in this process and is never saved.
KERAS_STEP_FUNCTIONS = frozenset(
    (
        "one_step_on_data",
        "one_step_on_data_distributed",
        "multi_step_on_iterator",
        "multi_step_on_data",
        "one_step_on_iterator",  # earlier Keras 3 releases
    )
)


def nested_layers(layer):
    """Every layer inside `layer`, at any depth, `layer` itself first: the
    layers of nested models and the sublayers that custom layers keep as
    attributes. `Model.layers` lists one level of a model only, and a plain
    `Layer` has no public list of its sublayers; Keras's own
    `_flatten_layers` walks both."""
    return list(layer._flatten_layers(include_self=True, recursive=True))


def call_count(layer):
    """How many times `layer` was called on symbolic inputs, stale calls
    included (a Sequential model rebuilds its graph on each layer it gets,
    on load too, calling its earlier layers again). Keras keeps the calls as
    the layer's inbound nodes and exposes no public count."""
    return len(getattr(layer, "_inbound_nodes", ()))


def graph_call_count(model, layer):
    """How many places of the graphs inside `model` (its own, a Sequential's
    inner one, a nested model's) call `layer`: its inbound nodes that belong
    to one (a graph keeps its nodes' keys in `_nodes`); `None` if `layer` is
    no node of any (a sublayer a custom layer calls)."""
    from keras.src.ops.function import make_node_key

    keys = {make_node_key(layer, index) for index in range(call_count(layer))}
    graphs = (
        holder._functional if isinstance(holder, keras.Sequential) else holder
        for holder in nested_layers(model)
    )
    nodes = (getattr(graph, "_nodes", None) for graph in graphs)
    return sum(len(keys & held) for held in nodes if isinstance(held, set)) or None


@contextlib.contextmanager
def uncompiled(model):
    """`model` reads as uncompiled inside the block. `keras.models.clone_model`
    compiles the copy of a compiled model, which builds an optimizer state of
    zeros that `save` then stores (Adam's nearly doubled a weights file), and
    has no argument to skip it."""
    compiled = getattr(model, "compiled", False)
    model.compiled = False
    try:
        yield model
    finally:
        model.compiled = compiled


def sublayer_attributes(layer):
    """The layers that `layer` holds as attributes, by attribute name. On
    PyTorch a Keras layer is also a `torch.nn.Module`, which keeps them in
    its `_modules` registry instead of the instance dict."""
    attributes = {**vars(layer), **getattr(layer, "_modules", {})}
    return {
        name: value
        for name, value in attributes.items()
        if isinstance(value, keras.layers.Layer)
    }


def swap_tracked_sublayer(parent, name, old, new):
    """Make `new` the sublayer `parent.<name>` in place of `old`, for a built
    `parent`. Keras locks a built layer's tracker against new sublayers and
    offers no public replacement; its tracker's own `replace_tracked_value`
    keeps the layer list (and so `weights`) in order. On PyTorch a layer is
    also a `torch.nn.Module`, whose registry holds the sublayer instead of
    the instance dict."""
    parent._tracker.replace_tracked_value("layers", old, new)
    modules = getattr(parent, "_modules", None)
    if modules is not None and name in modules:
        modules[name] = new
    else:
        object.__setattr__(parent, name, new)


def child_layers(layer):
    """The layers directly inside `layer` (one level down), in tracking order:
    a model's layers, a custom layer's sublayers, a wrapper's wrapped layer.
    Keras tracks them privately and exposes only the recursive walk."""
    return list(layer._flatten_layers(include_self=False, recursive=False))


def swap_graph_operation(model, old, new):
    """Make `new` compute in place of `old`, a node of the functional graph of
    `model` (a functional model, or a Sequential one), in place: the graph,
    its node keys, the layer list, `get_config` and saving see `new`, with
    `old`'s connections. Keras builds a graph once and offers no way to swap
    a node; `clone_model` copies the whole model instead."""
    from keras.src.ops.function import make_node_key
    from keras.src.ops.node import KerasHistory

    if isinstance(model, keras.Sequential):
        layers = model._layers
        layers[next(i for i, layer in enumerate(layers) if layer is old)] = new
        model._tracker.stored_ids["layers"].discard(id(old))
        model._tracker.stored_ids["layers"].add(id(new))
        graph = model._functional
    else:
        model._tracker.replace_tracked_value("layers", old, new)
        graph = model
    if graph is None:
        return
    for index, node in enumerate(old._inbound_nodes):
        key = make_node_key(old, index)
        if key in graph._nodes:
            graph._nodes.discard(key)
            graph._nodes.add(make_node_key(new, index))
        node.operation = new
        for position, tensor in enumerate(node.outputs):
            tensor._keras_history = KerasHistory(new, index, position)
    new._inbound_nodes, old._inbound_nodes = old._inbound_nodes, []
    new._outbound_nodes, old._outbound_nodes = old._outbound_nodes, []
    graph._operations = [new if op is old else op for op in graph._operations]
    for depth, ops in graph._operations_by_depth.items():
        graph._operations_by_depth[depth] = [new if op is old else op for op in ops]
    if graph is not model:
        if graph._tracker.is_in_store("layers", old):
            graph._tracker.replace_tracked_value("layers", old, new)
        else:  # Keras 3.4: a Sequential's inner graph lists them untracked
            layers = graph._layers
            layers[next(i for i, layer in enumerate(layers) if layer is old)] = new


def is_plain_functional(model):
    """Whether `model` is a functional model of Keras's own class (whose config
    is its graph), not a subclass such as a keras-hub backbone. Keras exports
    no name for that class."""
    from keras.src.models.functional import Functional

    return type(model) is Functional


def refresh_torch_parameters(layers):
    """On PyTorch a Keras layer also lists its variables as `torch.nn`
    parameters, collected once: collect them again for `layers`, whose
    sublayers changed (for `named_parameters()` and torch optimizers)."""
    for layer in layers:
        if hasattr(layer, "_torch_params"):
            layer._track_variables()


def forget_compiled_functions(model, uncompile=False):
    """Traced train/test/predict functions hold the old computation: make
    Keras trace again; with `uncompile`, ask for `compile` (the optimizer was
    built for other trainable weights)."""
    for name in ("train_function", "test_function", "predict_function"):
        if hasattr(model, name):
            setattr(model, name, None)
    if uncompile and getattr(model, "compiled", False):
        model.compiled = False
