"""The fitting stages of `compress`, on Keras's own `keras.distillation`."""

import functools

import keras
import numpy as np

from keras_crosswise.compression.report import pre_activation


def keras_distillation():
    """`keras.distillation`, or a clear error on a Keras without it."""
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


def label_loss(model, loss, y):
    """The label loss: `loss`, else the teacher's compiled loss."""
    if loss is None and getattr(model, "compiled", False):
        loss = getattr(model, "loss", None)
    if y is not None and loss is None:
        raise ValueError(
            "`y` was given but there is no label loss: pass `loss=` or compile "
            "the teacher with its loss."
        )
    return loss


def distil(
    teacher,
    student,
    distillation_loss,
    *,
    epochs,
    label_loss,
    data,
    optimizer,
    verbose,
    label_weight=0.5,
    callbacks=None,
    validation_data=None,
):
    """Fit `student` to `teacher` with `distillation_loss` (and `label_loss`
    at `label_weight` when given) on `data`, the positional `fit` arguments,
    with the user's `callbacks` and `validation_data`."""
    distillation = keras_distillation()
    distiller = distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=distillation_loss,
        student_loss_weight=label_weight if label_loss is not None else 0.0,
    )
    distiller.compile(
        optimizer=_fresh_optimizer(optimizer),
        loss=label_loss if label_loss is not None else "mse",
    )
    distiller.fit(
        *data,
        epochs=epochs,
        verbose=verbose,
        callbacks=callbacks,
        validation_data=validation_data,
    )


def fit_layer(dense, replacement, inputs, epochs, batch_size, optimizer):
    """Fit `replacement` alone (by mean squared error) to `dense`'s
    pre-activation outputs on `inputs`, the teacher's own inputs to `dense`."""
    target = pre_activation(dense, inputs)
    twin = type(replacement).from_config(
        {**replacement.get_config(), "activation": None, "name": None}
    )
    twin.build((None, replacement.input_dim))
    twin.set_weights(replacement.get_weights())
    regression = keras.Sequential([keras.Input(inputs.shape[1:]), twin])
    regression.compile(optimizer=_fresh_optimizer(optimizer), loss="mse")
    regression.fit(inputs, target, batch_size=batch_size, epochs=epochs, verbose=0)
    replacement.set_weights(twin.get_weights())


# The default optimizer: Adam at 3e-3 distilled best of the rates measured
# (benchmarks/quality/compress_ablation.py; docs/compress.md).
DEFAULT_LEARNING_RATE = 3e-3


def _fresh_optimizer(optimizer):
    if optimizer is None:
        return keras.optimizers.Adam(DEFAULT_LEARNING_RATE)
    optimizer = keras.optimizers.get(optimizer)
    return type(optimizer).from_config(optimizer.get_config())


def teacher_logits(model):
    """Whether `model` outputs logits: its compiled loss's `from_logits` if it
    has one, else False for a softmax or sigmoid output layer, else True."""
    loss = getattr(model, "loss", None) if getattr(model, "compiled", False) else None
    for each in keras.tree.flatten(loss) if loss is not None else []:
        if hasattr(each, "from_logits"):
            return bool(each.from_logits)
    last = model.layers[-1] if model.layers else None
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", "")
    return name not in ("softmax", "sigmoid")


def check_probabilities(outputs):
    """A clear error where `from_logits=False` is plainly wrong: the teacher's
    outputs on `x` are not probabilities (a value outside [0, 1]); distilling
    them as probabilities went on silently, and worse (agreement 0.58
    against 0.78 with logits)."""
    outputs = np.asarray(outputs, "float64")
    low, high = float(outputs.min()), float(outputs.max())
    if low < -1e-6 or high > 1 + 1e-6:
        raise ValueError(
            "`from_logits=False` says the teacher outputs probabilities, but its "
            f"outputs on `x` range over [{low:.3g}, {high:.3g}]: logits. Pass "
            "from_logits=True, or None to read it from the model."
        )


def outputs_loss(temperature, from_logits):
    """The whole-model distillation loss: MSE of the outputs for
    `temperature=None`, else KL of the tempered softmax of the logits (of
    the log-probabilities, for a teacher whose outputs are probabilities)."""
    distillation = keras_distillation()
    if temperature is None:
        return distillation.FeatureDistillation(loss="mse")
    kind = (
        distillation.LogitsDistillation
        if from_logits
        else _probability_distillation(distillation)
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
