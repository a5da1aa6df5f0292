"""`compress`: a trained Keras model with its big Dense layers made structured,
initialised from the teacher, then distilled."""

import dataclasses
import functools
import time

from keras_crosswise._surgery import copy_with_swaps, trainable_flags
from keras_crosswise._surgery.eligibility import refuse_adapters
from keras_crosswise._validation import (
    LAYER_SEED_STRIDE,
    check_positive_int,
    check_positive_real,
    check_real,
    check_seed,
)
from keras_crosswise.compression.data import check_finite, sample_inputs
from keras_crosswise.compression.distillation import (
    check_probabilities,
    distil,
    fit_layer,
    keras_distillation,
    label_loss,
    outputs_loss,
    teacher_logits,
)
from keras_crosswise.compression.recording import layer_inputs
from keras_crosswise.compression.report import (
    StageErrors,
    build_report,
    layer_errors,
    single_output,
)
from keras_crosswise.compression.selection import check_teacher, choose_layers
from keras_crosswise.compression.structures import (
    check_into,
    compress_layer,
    fresh_layer,
)

SAMPLE_ROWS = 4096
INITS = ("projection", "fresh")


def compress(
    model,
    x,
    y=None,
    *,
    into="fastfood",
    layers=None,
    min_params=4096,
    epochs=10,
    layer_epochs=0,
    batch_size=64,
    optimizer=None,
    loss=None,
    temperature=2.0,
    label_weight=0.5,
    init="fresh",
    seed=None,
    from_logits=None,
    callbacks=None,
    validation_data=None,
    return_report=False,
    verbose="auto",
):
    """A smaller copy of a trained model, its big Dense layers made structured.

    Three steps, the teacher `model` left unchanged:

    1. each chosen `Dense` becomes a structured layer of its shape (same
       name, units, activation): a fresh one by default, or with
       `init="projection"` the one `compress_layer` returns (projected from
       the trained kernel); every other layer is copied with its trained
       weights. The Dense layers may sit anywhere: in nested models, or as
       attributes of custom layers (keras-hub's `TransformerEncoder`);
    2. with `layer_epochs`, each replacement is fitted alone to the teacher
       layer's pre-activation outputs on the teacher's own inputs to it;
    3. the whole student is distilled on the teacher's outputs for `epochs`
       with `keras.distillation.LogitsDistillation` (outputs that are
       probabilities, `from_logits=False`, are compared through their
       logarithm), plus the label loss when labels are given.

    The defaults are the best recipe measured (benchmarks/quality/compress_ablation.py,
    docs/compress.md): on our teachers a fresh student distilled long enough
    beat the projection and the layer-wise fit, which cost accuracy with a
    FastfoodDense (it keeps only a part of a dense kernel).

    The returned model is a plain, uncompiled Keras model (compile it to
    evaluate or fit it) with a `compression_report` attribute (not saved in
    a `.keras` file: keep `report.to_dict()`, or ask for it with
    `return_report`), also printed when `verbose` is not 0. A Dense layer
    called at two places (shared) is refused when named and skipped
    otherwise, as is an EinsumDense. Needs
    `keras.distillation` (Keras >= 3.12).

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
        layer_epochs: layer-wise fitting epochs per replaced layer (0, the
            default: none).
        batch_size: batch size for array `x`.
        optimizer: optimizer identifier or instance (a fresh copy per fit);
            `None` is Adam at 3e-3.
        loss: the label loss; `None` uses the teacher's compiled loss.
        temperature: the soft-logit temperature of LogitsDistillation; `None`
            distils the outputs with mean squared error (for logits, the
            regression of Ba and Caruana).
        label_weight: the weight of the label loss, in [0, 1) (the outputs'
            loss weighs `1 - label_weight`), when labels are given.
        init: `"fresh"` (a new layer of the same structure, its own
            initialisation: the default) or `"projection"` (each replacement
            from the trained kernel, by its `from_dense`).
        seed: integer or `None`, the seed of the FastfoodDense replacements.
        from_logits: whether the teacher outputs logits (True) or
            probabilities (False), for the tempered distillation; `None`
            reads it from the teacher's compiled loss (its `from_logits`),
            else from its output layer's activation (softmax or sigmoid:
            probabilities), else takes logits.
        callbacks: Keras callbacks for the distillation of the whole student
            (e.g. `keras.callbacks.EarlyStopping`).
        validation_data: passed to the distillation's `fit`, as in `fit`.
        return_report: if True, return `(student, report)`.
        verbose: `"auto"`, 0, 1 or 2, as in `fit`, for the distillation of
            the whole student (the layer-wise fits are silent); the report is
            printed unless 0.

    Returns:
        The student `keras.Model`, or `(student, CompressionReport)` with
        `return_report`.

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
    settings = _checked_settings(
        model,
        into=into,
        min_params=min_params,
        epochs=epochs,
        layer_epochs=layer_epochs,
        batch_size=batch_size,
        temperature=temperature,
        label_weight=label_weight,
        init=init,
        seed=seed,
        from_logits=from_logits,
        verbose=verbose,
    )
    sample, has_labels, arrays = sample_inputs(model, x, y, SAMPLE_ROWS)
    labels = label_loss(model, loss, y) if has_labels else None
    teacher_outputs = _teacher_outputs(model, sample, settings)
    chosen = choose_layers(model, layers, settings.min_params)
    pairs = _replacements(chosen, settings)
    student = copy_with_swaps(model, {id(dense): new for dense, new in pairs})
    restore = trainable_flags(model)  # the teacher is frozen meanwhile
    try:
        model.trainable = False
        errors = _fitted(
            model,
            student,
            pairs,
            sample,
            settings,
            distillation=functools.partial(
                distil,
                data=(x, y, batch_size) if arrays else (x,),
                optimizer=optimizer,
                verbose=settings.verbose,
                callbacks=callbacks,
                validation_data=validation_data,
                label_loss=labels,
                label_weight=settings.label_weight,
            ),
            optimizer=optimizer,
        )
    finally:
        restore()
    student_outputs = single_output(
        student.predict(sample, settings.batch_size, verbose=0)
    )
    student.compression_report = build_report(
        model,
        student,
        settings.into,
        pairs,
        errors,
        (teacher_outputs, student_outputs),
        time.perf_counter() - start,
    )
    if settings.verbose:
        print(student.compression_report)
    if return_report:
        return student, student.compression_report
    return student


@dataclasses.dataclass(frozen=True)
class _Settings:
    """`compress`'s checked arguments."""

    into: str
    min_params: int
    epochs: int
    layer_epochs: int
    batch_size: int
    temperature: float | None
    label_weight: float
    init: str
    seed: int | None
    from_logits: bool | None
    verbose: int


def _checked_settings(model, **given):
    """Stage 0: every argument checked (clear errors) before any work."""
    keras_distillation()
    check_teacher(model)
    refuse_adapters(model, "compressing")
    label_weight = check_real("label_weight", given["label_weight"], minimum=0.0)
    if label_weight >= 1:
        raise ValueError(f"`label_weight` must be in [0, 1); got {label_weight}.")
    if given["init"] not in INITS:
        raise ValueError(f"`init` must be one of {INITS}; got {given['init']!r}.")
    if given["from_logits"] not in (None, True, False):
        raise TypeError(
            f"`from_logits` must be None, True or False; got {given['from_logits']!r}."
        )
    verbose = 1 if given["verbose"] == "auto" else given["verbose"]
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 'auto', 0, 1 or 2; got {verbose!r}.")
    temperature = given["temperature"]
    return _Settings(
        into=check_into(given["into"]),
        min_params=check_positive_int("min_params", given["min_params"]),
        epochs=_check_count("epochs", given["epochs"]),
        layer_epochs=_check_count("layer_epochs", given["layer_epochs"]),
        batch_size=check_positive_int("batch_size", given["batch_size"]),
        temperature=(
            None
            if temperature is None
            else check_positive_real("temperature", temperature)
        ),
        label_weight=label_weight,
        init=given["init"],
        seed=check_seed(given["seed"]),
        from_logits=given["from_logits"],
        verbose=verbose,
    )


def _teacher_outputs(model, sample, settings):
    """The teacher's outputs on the sample, checked finite (and
    probabilities where `from_logits=False` says so)."""
    outputs = single_output(model.predict(sample, settings.batch_size, verbose=0))
    check_finite("`model`'s output on `x`", outputs)
    if settings.from_logits is False and settings.temperature is not None:
        check_probabilities(outputs)
    return outputs


def _replacements(chosen, settings):
    """Stage 1: `(dense, replacement)` for each chosen Dense layer."""
    replace = compress_layer if settings.init == "projection" else fresh_layer
    return [
        (dense, replace(dense, settings.into, _layer_seed(settings.seed, i)))
        for i, dense in enumerate(chosen)
    ]


def _fitted(model, student, pairs, sample, settings, distillation, optimizer):
    """Stages 2 and 3: each replacement fitted alone (with `layer_epochs`),
    then the whole student distilled (with `epochs`). Returns the layers'
    errors after each stage (`StageErrors`; `None` for a stage not run)."""
    chosen = [dense for dense, _ in pairs]
    replacements = [replacement for _, replacement in pairs]
    hidden = layer_inputs(model, chosen, sample, settings.batch_size)

    def errors():
        return layer_errors(chosen, replacements, hidden)

    # Nothing was projected with init="fresh": no error to report yet.
    projected = errors() if settings.init == "projection" else None
    fitted = None
    if settings.layer_epochs:
        for (dense, replacement), inputs in zip(pairs, hidden, strict=True):
            fit_layer(
                dense,
                replacement,
                inputs,
                settings.layer_epochs,
                settings.batch_size,
                optimizer,
            )
        fitted = errors()
    if settings.epochs:
        logits = (
            teacher_logits(model)
            if settings.from_logits is None
            else settings.from_logits
        )
        distillation(
            model,
            student,
            outputs_loss(settings.temperature, logits),
            epochs=settings.epochs,
        )
    return StageErrors(projected=projected, fitted=fitted, final=errors())


def _check_count(name, value):
    if value == 0 and not isinstance(value, bool):
        return 0
    return check_positive_int(name, value)


def _layer_seed(seed, index):
    return None if seed is None else seed + LAYER_SEED_STRIDE * index
