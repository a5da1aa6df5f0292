"""What `keras_crosswise.compress` did, per replaced layer and in total, and
the measurements behind it."""

import dataclasses

import keras
import numpy as np


@dataclasses.dataclass
class LayerCompression:
    """One replaced Dense layer.

    The errors are relative output errors of the layer alone,
    `||student(h) - teacher(h)|| / ||teacher(h)||` before the activation, on
    the teacher's own inputs `h` to that layer: after the projection of the
    trained kernel (`projected_error`; `None` with `init="fresh"`, where
    nothing is projected), after the layer-wise fit (`fitted_error`; `None`
    without `layer_epochs`) and after distilling the whole model
    (`final_error`). Parameter counts are `count_params()`.
    """

    name: str
    into: str
    params_before: int
    params_after: int
    projected_error: float | None
    fitted_error: float | None
    final_error: float


@dataclasses.dataclass
class CompressionReport:
    """`student.compression_report` (and `compress(..., return_report=True)`'s
    second value): the replaced layers, the whole-model parameter counts
    (`count_params()`), teacher/student agreement (share of equal top-1
    predictions; `None` for a one-output model) and relative output error
    on up to the first `samples` rows of `x`, and the wall time."""

    layers: list
    params_before: int
    params_after: int
    agreement: float
    output_error: float
    samples: int
    seconds: float

    def to_dict(self):
        """The report as plain Python values (e.g. for `json.dump`, to keep it
        beside a saved student: a `.keras` file does not hold it)."""
        return {**dataclasses.asdict(self), "compression": self.compression}

    @property
    def compression(self):
        """Whole-model parameters before over after."""
        return self.params_before / self.params_after

    def __str__(self):
        header = (
            "layer",
            "into",
            "params before",
            "params after",
            "error projected",
            "error fitted",
            "error final",
        )
        rows = [header] + [
            (
                layer.name,
                layer.into,
                f"{layer.params_before:,}",
                f"{layer.params_after:,}",
                _error(layer.projected_error),
                _error(layer.fitted_error),
                _error(layer.final_error),
            )
            for layer in self.layers
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            for row in rows
        ]
        agreement = (
            "" if self.agreement is None else f"top-1 agreement {self.agreement:.1%}, "
        )
        lines.append(
            f"model: {self.params_before:,} -> {self.params_after:,} parameters "
            f"({self.compression:.1f}x); {agreement}relative output error "
            f"{self.output_error:.3f} on {self.samples} samples; "
            f"{self.seconds:.1f} s."
        )
        return "\n".join(lines)


def _error(value):
    return "-" if value is None else f"{value:.3f}"


def single_output(outputs):
    """`outputs` of `predict` as one array, or a clear error."""
    if not isinstance(outputs, np.ndarray):
        raise ValueError(
            "`model` must have one output for compress; got "
            f"{len(keras.tree.flatten(outputs))} outputs."
        )
    return outputs


def relative_error(estimate, target):
    estimate, target = (np.asarray(a, "float64") for a in (estimate, target))
    return float(np.linalg.norm(estimate - target) / max(np.linalg.norm(target), 1e-30))


def pre_activation(layer, inputs):
    if isinstance(layer, keras.layers.Dense):
        outputs = keras.ops.matmul(inputs, layer.kernel)
    else:
        outputs = layer.linear(inputs)
    if layer.use_bias:
        outputs = keras.ops.cast(outputs, layer.bias.dtype) + layer.bias
    return np.asarray(keras.ops.convert_to_numpy(outputs), "float64")


def layer_errors(chosen, replacements, hidden):
    """Each replacement's relative pre-activation error against its Dense
    layer, on that layer's inputs `hidden`."""
    return [
        relative_error(
            pre_activation(replacement, inputs), pre_activation(dense, inputs)
        )
        for dense, replacement, inputs in zip(chosen, replacements, hidden, strict=True)
    ]


def _agreement(teacher_outputs, student_outputs):
    if teacher_outputs.shape[-1] < 2:
        return None
    return float(
        np.mean(teacher_outputs.argmax(axis=-1) == student_outputs.argmax(axis=-1))
    )


@dataclasses.dataclass(frozen=True)
class StageErrors:
    """Each replaced layer's relative error after each stage of `compress`
    (a list per stage, one entry per layer; `None` for a stage not run)."""

    projected: list | None
    fitted: list | None
    final: list


def build_report(teacher, student, into, layer_pairs, errors, outputs, seconds):
    """The `CompressionReport` of `student`: `layer_pairs` are `(dense,
    replacement)`, `errors` their `StageErrors`, `outputs` the teacher's and
    student's outputs on the sample."""
    teacher_outputs, student_outputs = outputs
    return CompressionReport(
        layers=[
            LayerCompression(
                name=dense.name,
                into=into,
                params_before=dense.count_params(),
                params_after=replacement.count_params(),
                projected_error=projected,
                fitted_error=fitted,
                final_error=final,
            )
            for (dense, replacement), projected, fitted, final in zip(
                layer_pairs,
                errors.projected or [None] * len(layer_pairs),
                errors.fitted or [None] * len(layer_pairs),
                errors.final,
                strict=True,
            )
        ],
        params_before=teacher.count_params(),
        params_after=student.count_params(),
        agreement=_agreement(teacher_outputs, student_outputs),
        output_error=relative_error(student_outputs, teacher_outputs),
        samples=len(teacher_outputs),
        seconds=seconds,
    )
