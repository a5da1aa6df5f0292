"""Draw the figures of the docs site that do not come from a benchmark.

docs/img/w_hat_shapes.png: the weight matrix W_hat of CZDense (Eq. 3-6,
Sec. 3.1) for the three shape cases, taken from `CZDense.to_dense_kernel()`.
Run: python scripts/docs_figures.py
"""

import pathlib

import keras
import matplotlib
import numpy as np

from keras_crosswise.layers import CZDense

matplotlib.use("Agg")
import matplotlib.pyplot as plt

IMAGES = pathlib.Path(__file__).resolve().parents[1] / "docs" / "img"
CASES = (
    ("units = n = 8: one diagonal", 8, 8),
    ("units = 20 > n = 8: stacked diagonals", 8, 20),
    ("units = 4 < n = 10: diagonals side by side", 10, 4),
)


def w_hat(inputs, units, seed):
    layer = CZDense(units, kernel_initializer=keras.initializers.RandomUniform(0.2, 1))
    keras.utils.set_random_seed(seed)
    layer.build((None, inputs))
    return keras.ops.convert_to_numpy(layer.to_dense_kernel()).T  # (units, n)


def main():
    figure, axes = plt.subplots(
        1, len(CASES), figsize=(11, 4), gridspec_kw={"width_ratios": [8, 8, 10]}
    )
    for seed, (axis, (title, inputs, units)) in enumerate(
        zip(axes, CASES, strict=True)
    ):
        matrix = w_hat(inputs, units, seed)
        axis.imshow(np.ma.masked_equal(matrix, 0), cmap="viridis", vmin=0, vmax=1)
        axis.set_xticks(np.arange(-0.5, inputs), minor=True)
        axis.set_yticks(np.arange(-0.5, units), minor=True)
        axis.grid(which="minor", color="lightgray", linewidth=0.5)
        axis.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        axis.set(title=title, xlabel=f"input features (n = {inputs})")
        axis.set_ylabel(f"outputs (units = {units})")
    figure.suptitle(
        "W_hat of CZDense: coloured cells are weights, blank cells are zero"
    )
    figure.tight_layout()
    IMAGES.mkdir(parents=True, exist_ok=True)
    figure.savefig(IMAGES / "w_hat_shapes.png", dpi=100)
    print(f"wrote {IMAGES / 'w_hat_shapes.png'}")


if __name__ == "__main__":
    main()
