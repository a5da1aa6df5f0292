"""Compress a trained Keras model: its big Dense layers become CZDense or
FastfoodDense, initialised from the teacher, then distilled."""

import contextlib
import functools
import time

import keras
import numpy as np

from keras_crosswise._compress_data import sample_inputs
from keras_crosswise._compression_report import CompressionReport, LayerCompression
from keras_crosswise._projection import project_cz, project_fastfood
from keras_crosswise._validation import (
    check_positive_int,
    check_positive_real,
    check_seed,
)
from keras_crosswise.layers.cz_dense import CZDense
from keras_crosswise.layers.fastfood_dense import FastfoodDense

STRUCTURES = {"fastfood": FastfoodDense, "cz": CZDense}
SAMPLE_ROWS = 4096


def compress_layer(dense_layer, into="fastfood", seed=None):
    """A CZDense or FastfoodDense initialised from a trained, built `Dense`.

    The new layer keeps the Dense layer's name, `units`, `activation`,
    `use_bias`, dtype policy and bias, and is built for the same input
    width. Its weights are the least-squares projection of the trained
    kernel onto the structure (no data needed):

    - `"cz"`: the entries of the kernel that the diagonal blocks keep (for a
      CZDense this is the exact projection);
    - `"fastfood"`: B and Pi drawn at random, then G and S fitted in closed
      form (see `docs/compress.md`); it keeps only a part of a dense kernel,
      so `compress` follows it with a layer-wise fit on data.

    Kernel and bias regularizers and constraints are not carried over.

    Args:
        dense_layer: a built `keras.layers.Dense` (not quantized).
        into: `"fastfood"` (FastfoodDense) or `"cz"` (CZDense).
        seed: integer or `None`, FastfoodDense's seed.

    Returns:
        A built CZDense or FastfoodDense layer.

    Example:

    >>> dense = keras.layers.Dense(64, activation="relu")
    >>> dense.build((None, 32))
    >>> layer = keras_crosswise.compress_layer(dense, into="cz")
    >>> layer.name == dense.name, layer.units, tuple(layer.kernel.shape)
    (True, 64, (64,))
    """
    into = _check_into(into)
    if not isinstance(dense_layer, keras.layers.Dense):
        raise TypeError(
            "`dense_layer` must be a keras.layers.Dense; got "
            f"{type(dense_layer).__name__}."
        )
    if not dense_layer.built:
        raise ValueError(
            f"`dense_layer` '{dense_layer.name}' must be built (call it on data "
            "or `build((None, features))` first)."
        )
    if getattr(dense_layer, "quantization_mode", None) is not None:
        raise ValueError(
            f"`dense_layer` '{dense_layer.name}' is quantized "
            f"({dense_layer.quantization_mode!r}); compress the float model."
        )
    kernel = np.asarray(keras.ops.convert_to_numpy(dense_layer.kernel), "float64")
    input_dim, units = kernel.shape
    extra = {"seed": check_seed(seed)} if into == "fastfood" else {}
    layer = STRUCTURES[into](
        units,
        activation=dense_layer.activation,
        use_bias=dense_layer.use_bias,
        name=dense_layer.name,
        dtype=dense_layer.dtype_policy,
        **extra,
    )
    layer.build((None, input_dim))
    if into == "cz":
        weights = project_cz(kernel, units)
    else:
        weights = project_fastfood(
            kernel,
            keras.ops.convert_to_numpy(layer.signs),
            keras.ops.convert_to_numpy(layer.permutation),
            layer.normalization,
        )
    if dense_layer.use_bias:
        weights["bias"] = keras.ops.convert_to_numpy(dense_layer.bias)
    for name, value in weights.items():
        variable = getattr(layer, name)
        variable.assign(np.asarray(value, dtype=variable.dtype))
    return layer


def compress(
    model,
    x,
    y=None,
    *,
    into="fastfood",
    layers=None,
    min_params=4096,
    epochs=10,
    layer_epochs=3,
    batch_size=128,
    optimizer="adam",
    loss=None,
    temperature=2.0,
    seed=None,
    verbose="auto",
):
    """A smaller copy of a trained model, its big Dense layers made structured.

    Three steps, the teacher `model` left unchanged:

    1. each chosen `Dense` becomes the layer `compress_layer` returns (same
       name, units, activation, bias), every other layer is cloned with its
       trained weights;
    2. each replacement is fitted alone for `layer_epochs` to the teacher
       layer's pre-activation outputs on the teacher's own inputs to it (a
       layer-wise `keras.distillation.FeatureDistillation`);
    3. the whole student is distilled on the teacher's outputs for `epochs`
       with `keras.distillation.LogitsDistillation` (outputs that are
       probabilities are compared through their logarithm), plus the label
       loss when labels are given.

    The returned model is a plain, uncompiled Keras model (compile it to
    evaluate or fit it) with a `compression_report` attribute, also printed
    when `verbose` is not 0. Only top-level, unshared Dense layers
    are replaced: a Dense inside a nested model or called at two places is
    refused when named and skipped otherwise. Needs `keras.distillation`
    (Keras >= 3.12).

    Args:
        model: a trained, built Sequential or functional `keras.Model` with
            one output.
        x: the inputs to fit and distil on: arrays, a `tf.data.Dataset` or a
            `keras.utils.PyDataset` (batches of inputs or `(inputs, labels)`).
        y: labels for array `x`; `None` to distil on the teacher only.
        into: `"fastfood"` (FastfoodDense) or `"cz"` (CZDense).
        layers: `None` (every Dense whose kernel has at least `min_params`
            weights, except the output layer: a small head whose every
            logit counts), a list of layer names, or a callable
            `layer -> bool` applied to the Dense layers.
        min_params: the kernel size from which `layers=None` replaces a Dense.
        epochs: distillation epochs of the whole student (0: none).
        layer_epochs: layer-wise fitting epochs per replaced layer (0: none).
        batch_size: batch size for array `x`.
        optimizer: optimizer identifier or instance (a fresh copy per fit).
        loss: the label loss; `None` uses the teacher's compiled loss.
        temperature: the soft-logit temperature of LogitsDistillation; `None`
            distils the outputs with mean squared error (regression).
        seed: integer or `None`, the seed of the FastfoodDense replacements.
        verbose: `"auto"`, 0, 1 or 2, as in `fit`, for the distillation of
            the whole student (the layer-wise fits are silent); the report is
            printed unless 0.

    Returns:
        The student `keras.Model`.

    Example:

    >>> import numpy as np
    >>> teacher = keras.Sequential([
    ...     keras.Input((32,)),
    ...     keras.layers.Dense(256, activation="relu"),
    ...     keras.layers.Dense(10),
    ... ])
    >>> x = np.random.default_rng(0).standard_normal((256, 32)).astype("float32")
    >>> student = keras_crosswise.compress(
    ...     teacher, x, epochs=1, layer_epochs=1, verbose=0
    ... )
    >>> layer = student.layers[0]
    >>> type(layer).__name__, layer.name == teacher.layers[0].name
    ('FastfoodDense', True)
    """
    start = time.perf_counter()
    distillation = _keras_distillation()
    into = _check_into(into)
    _check_model(model)
    min_params = check_positive_int("min_params", min_params)
    epochs = _check_count("epochs", epochs)
    layer_epochs = _check_count("layer_epochs", layer_epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    if temperature is not None:
        temperature = check_positive_real("temperature", temperature)
    seed = check_seed(seed)
    verbose = 1 if verbose == "auto" else verbose
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 'auto', 0, 1 or 2; got {verbose!r}.")
    sample, has_labels, arrays = sample_inputs(model, x, y, SAMPLE_ROWS)
    teacher_outputs = _single_output(model.predict(sample, batch_size, verbose=0))
    chosen = _choose_layers(model, layers, min_params)
    label_loss = _label_loss(model, loss, y)
    fit = functools.partial(
        _distil,
        data=(x, y, batch_size) if arrays else (x,),
        optimizer=optimizer,
        verbose=verbose,
        distillation=distillation,
    )

    replacements = [
        compress_layer(dense, into, None if seed is None else seed + 8 * i)
        for i, dense in enumerate(chosen)
    ]
    student = _clone_with(model, dict(zip(map(id, chosen), replacements, strict=True)))
    with _trainable_flags_restored(model):
        model.trainable = False
        hidden = _layer_inputs(model, chosen, sample, batch_size)
        projected = _layer_errors(chosen, replacements, hidden)
        if layer_epochs:
            for dense, replacement in zip(chosen, replacements, strict=True):
                _fit_layer(model, dense, replacement, fit, layer_epochs, distillation)
        fitted = _layer_errors(chosen, replacements, hidden)
        if epochs:
            outputs_loss = _outputs_loss(distillation, temperature, teacher_outputs)
            fit(
                model,
                student,
                outputs_loss,
                epochs=epochs,
                label_loss=label_loss if (has_labels and label_loss) else None,
            )
        final = _layer_errors(chosen, replacements, hidden)

    student_outputs = _single_output(student.predict(sample, batch_size, verbose=0))
    report = CompressionReport(
        layers=[
            LayerCompression(
                name=dense.name,
                into=into,
                params_before=_parameter_count(dense),
                params_after=_parameter_count(replacement),
                projected_error=projected_error,
                fitted_error=fitted_error,
                final_error=final_error,
            )
            for dense, replacement, projected_error, fitted_error, final_error in zip(
                chosen, replacements, projected, fitted, final, strict=True
            )
        ],
        params_before=_parameter_count(model),
        params_after=_parameter_count(student),
        agreement=_agreement(teacher_outputs, student_outputs),
        output_error=_relative_error(student_outputs, teacher_outputs),
        samples=len(teacher_outputs),
        seconds=time.perf_counter() - start,
    )
    student.compression_report = report
    if verbose:
        print(report)
    return student


def _keras_distillation():
    try:
        from keras import distillation
    except ImportError:
        distillation = None
    if distillation is None or not hasattr(distillation, "Distiller"):
        raise ImportError(
            "keras_crosswise.compress needs keras.distillation (Keras >= 3.12); "
            f"this is Keras {keras.__version__}. Upgrade with "
            "`pip install -U keras`."
        )
    return distillation


def _check_into(into):
    if into not in STRUCTURES:
        raise ValueError(f"`into` must be one of {tuple(STRUCTURES)}; got {into!r}.")
    return into


def _check_count(name, value):
    if value == 0 and not isinstance(value, bool):
        return 0
    return check_positive_int(name, value)


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    # Functional models (and Sequential ones) are graphs of operations.
    functional = isinstance(model, keras.Sequential) or hasattr(
        type(model), "operations"
    )
    if not functional:
        raise TypeError(
            f"`model` must be a Sequential or functional keras.Model; "
            f"'{model.name}' is a subclassed {type(model).__name__}, whose layers "
            "compress cannot rewire. Compress its Dense layers by hand with "
            "`keras_crosswise.compress_layer`."
        )
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(
            f"`model` '{model.name}' must be built with known inputs: train it, "
            "or start it with `keras.Input(shape)`."
        )


def _why_not_replaceable(model, layer):
    """`None` if `compress` can replace `layer`, else the reason."""
    if not isinstance(layer, keras.layers.Dense):
        return f"it is a {type(layer).__name__}, not a Dense layer"
    if getattr(layer, "quantization_mode", None) is not None:
        return f"it is quantized ({layer.quantization_mode!r})"
    if layer not in model.layers:
        return "it is inside a nested model (compress that model, or flatten)"
    if len(getattr(layer, "_inbound_nodes", ())) > 1:
        return "it is shared (called at more than one place)"
    return None


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def _choose_layers(model, layers, min_params):
    everything = list(_all_layers(model))
    if layers is None:
        outputs = [id(tensor) for tensor in model.outputs]
        chosen = [
            layer
            for layer in everything
            if _why_not_replaceable(model, layer) is None
            and layer.kernel.shape[0] * layer.kernel.shape[1] >= min_params
            and id(layer.output) not in outputs
        ]
    elif callable(layers):
        chosen = [
            layer
            for layer in everything
            if _why_not_replaceable(model, layer) is None and layers(layer)
        ]
    elif isinstance(layers, (list, tuple)) and all(isinstance(n, str) for n in layers):
        by_name = {layer.name: layer for layer in everything}
        chosen = []
        for name in layers:
            if name not in by_name:
                raise ValueError(
                    f"`layers` names '{name}', which is not a layer of "
                    f"'{model.name}'; its layers are {sorted(by_name)}."
                )
            reason = _why_not_replaceable(model, by_name[name])
            if reason:
                raise ValueError(f"`layers` names '{name}', but {reason}.")
            chosen.append(by_name[name])
    else:
        raise TypeError(
            "`layers` must be None, a list of layer names or a callable "
            f"(layer -> bool); got {layers!r}."
        )
    if not chosen:
        sizes = [
            f"{layer.name}: {layer.count_params():,}"
            for layer in everything
            if isinstance(layer, keras.layers.Dense)
        ]
        raise ValueError(
            f"No Dense layer of '{model.name}' to compress with layers={layers!r} "
            f"and min_params={min_params} (Dense parameters: {sizes or 'none'})."
        )
    return chosen


def _label_loss(model, loss, y):
    if loss is None and getattr(model, "compiled", False):
        loss = getattr(model, "loss", None)
    if y is not None and loss is None:
        raise ValueError(
            "`y` was given but there is no label loss: pass `loss=` or compile "
            "the teacher with its loss."
        )
    return loss


@contextlib.contextmanager
def _trainable_flags_restored(model):
    """Restore every layer's `trainable` flag (the teacher is frozen while
    the student learns from it, and `Distiller` freezes it too)."""
    flags = [(layer, layer.trainable) for layer in model._flatten_layers()]
    try:
        yield
    finally:
        for layer, flag in flags:  # outermost first: a model sets its layers
            layer.trainable = flag


def _clone_with(model, replacements):
    """The model with `replacements[id(layer)]` for the chosen layers and
    copies of every other layer, trained weights included."""
    copies = []

    def clone(layer):
        if id(layer) in replacements:
            return replacements[id(layer)]
        copy = layer.__class__.from_config(layer.get_config())
        copies.append((layer, copy))
        return copy

    # clone_model compiles the copy of a compiled model, which builds an
    # optimizer state of zeros that `save` then stores (Adam's nearly doubled
    # a weights file in docs/compress.md); the copy stays uncompiled instead.
    compiled = getattr(model, "compiled", False)
    model.compiled = False
    try:
        student = keras.models.clone_model(model, clone_function=clone, recursive=True)
    finally:
        model.compiled = compiled
    for layer, copy in copies:
        copy.set_weights(layer.get_weights())
    return student


def _layer_inputs(model, chosen, sample, batch_size):
    probe = keras.Model(model.inputs, [dense.input for dense in chosen])
    hidden = probe.predict(sample, batch_size, verbose=0)
    return hidden if len(chosen) > 1 else [hidden]


def _pre_activation(layer, inputs):
    if isinstance(layer, keras.layers.Dense):
        outputs = keras.ops.matmul(inputs, layer.kernel)
    else:
        outputs = layer.linear(inputs)
    if layer.use_bias:
        outputs = keras.ops.cast(outputs, layer.bias.dtype) + layer.bias
    return np.asarray(keras.ops.convert_to_numpy(outputs), "float64")


def _layer_errors(chosen, replacements, hidden):
    return [
        _relative_error(
            _pre_activation(replacement, inputs), _pre_activation(dense, inputs)
        )
        for dense, replacement, inputs in zip(chosen, replacements, hidden, strict=True)
    ]


def _relative_error(estimate, target):
    estimate, target = (np.asarray(a, "float64") for a in (estimate, target))
    return float(np.linalg.norm(estimate - target) / max(np.linalg.norm(target), 1e-30))


def _agreement(teacher_outputs, student_outputs):
    if teacher_outputs.shape[-1] < 2:
        return None
    return float(
        np.mean(teacher_outputs.argmax(axis=-1) == student_outputs.argmax(axis=-1))
    )


def _single_output(outputs):
    if not isinstance(outputs, np.ndarray):
        raise ValueError(
            "`model` must have one output for compress; got "
            f"{len(keras.tree.flatten(outputs))} outputs."
        )
    return outputs


def _parameter_count(layer):
    """Float weights: FastfoodDense's fixed integer permutation is left out
    (it is a seeded shuffle, not a learned parameter)."""
    return sum(
        int(np.prod(weight.shape))
        for weight in layer.weights
        if "float" in str(weight.dtype)
    )


def _fit_layer(model, dense, replacement, fit, epochs, distillation):
    """Fit `replacement` alone to `dense`'s pre-activation outputs, on the
    teacher's inputs to `dense` (the teacher's layers stay frozen)."""
    teacher_twin = keras.layers.Dense(
        dense.units, use_bias=dense.use_bias, dtype=dense.dtype_policy
    )
    teacher_twin.build((None, dense.kernel.shape[0]))
    teacher_twin.set_weights(dense.get_weights())
    student_twin = type(replacement).from_config(
        {**replacement.get_config(), "activation": None, "name": None}
    )
    student_twin.build((None, replacement.input_dim))
    student_twin.set_weights(replacement.get_weights())
    fit(
        keras.Model(model.inputs, teacher_twin(dense.input)),
        keras.Model(model.inputs, student_twin(dense.input)),
        distillation.FeatureDistillation(loss="mse"),
        epochs=epochs,
        label_loss=None,
        verbose=0,  # the report gives each layer's error after this fit
    )
    replacement.set_weights(student_twin.get_weights())


def _distil(
    teacher,
    student,
    distillation_loss,
    *,
    epochs,
    label_loss,
    data,
    optimizer,
    distillation,
    verbose,
):
    distiller = distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=distillation_loss,
        student_loss_weight=0.5 if label_loss is not None else 0.0,
    )
    distiller.compile(
        optimizer=_fresh_optimizer(optimizer),
        loss=label_loss if label_loss is not None else "mse",
    )
    distiller.fit(*data, epochs=epochs, verbose=verbose)


def _fresh_optimizer(optimizer):
    optimizer = keras.optimizers.get(optimizer)
    return type(optimizer).from_config(optimizer.get_config())


def _outputs_loss(distillation, temperature, teacher_outputs):
    if temperature is None:
        return distillation.FeatureDistillation(loss="mse")
    probabilities = (
        teacher_outputs.shape[-1] > 1
        and np.all(teacher_outputs >= 0)
        and np.allclose(teacher_outputs.sum(axis=-1), 1.0, atol=1e-3)
    )
    kind = (
        _probability_distillation(distillation)
        if probabilities
        else distillation.LogitsDistillation
    )
    # A KLDivergence instance, not the default "kl_divergence": Keras 3.15
    # resolves that string to a function, which LogitsDistillation then
    # applies to the raw logits instead of the tempered softmax.
    return kind(temperature=temperature, loss=keras.losses.KLDivergence())


@functools.cache
def _probability_distillation(distillation):
    class ProbabilityDistillation(distillation.LogitsDistillation):
        """LogitsDistillation for models that output softmax probabilities:
        `log p` equals the logits up to a per-row constant, which softmax
        ignores, so the tempered distributions are the same."""

        def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
            def log(p):
                return keras.ops.log(keras.ops.maximum(p, 1e-7))

            return super().compute_loss(log(teacher_outputs), log(student_outputs))

    return ProbabilityDistillation
