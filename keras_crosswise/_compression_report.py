"""What `keras_crosswise.compress` did, per replaced layer and in total."""

import dataclasses


@dataclasses.dataclass
class LayerCompression:
    """One replaced Dense layer.

    The errors are relative output errors of the layer alone,
    `||student(h) - teacher(h)|| / ||teacher(h)||` before the activation, on
    the teacher's own inputs `h` to that layer: after the projection of the
    trained kernel (`projected_error`), after the layer-wise fit
    (`fitted_error`) and after distilling the whole model (`final_error`).
    """

    name: str
    into: str
    params_before: int
    params_after: int
    projected_error: float
    fitted_error: float
    final_error: float


@dataclasses.dataclass
class CompressionReport:
    """`student.compression_report`: the replaced layers, the whole-model
    parameter counts, teacher/student agreement (share of equal top-1
    predictions; `None` for a one-output model) and relative output error
    on up to the first `samples` rows of `x`, and the wall time."""

    layers: list
    params_before: int
    params_after: int
    agreement: float
    output_error: float
    samples: int
    seconds: float

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
                f"{layer.projected_error:.3f}",
                f"{layer.fitted_error:.3f}",
                f"{layer.final_error:.3f}",
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
