"""The data, models and training loop behind `examples/` and `benchmarks/`.

One home for what the comparisons share, importable wherever the package is
installed: the offline data sets (`load_digits_split`, `load_friedman1`,
`load_mnist1d`), the compared models (`digits_models`, `mnist1d_models`,
`residual_mlp`), and the training recipe over seeds (`fit_and_score`,
`scores_over_seeds`, `trainable_count`); in submodules, the equal-budget
baselines (`baselines`: a narrower Dense net, a low-rank pair, and the
verdict) and the save / reload / ONNX round trip of the serving examples
(`serving`). Needs the `[examples]` extra (scikit-learn, mnist1d).
"""

from keras_crosswise.experiments.data import (
    load_digits_split,
    load_friedman1,
    load_mnist1d,
)
from keras_crosswise.experiments.models import (
    digits_models,
    mnist1d_models,
    residual_mlp,
    trainable_count,
)
from keras_crosswise.experiments.training import fit_and_score, scores_over_seeds

__all__ = [
    "digits_models",
    "fit_and_score",
    "load_digits_split",
    "load_friedman1",
    "load_mnist1d",
    "mnist1d_models",
    "residual_mlp",
    "scores_over_seeds",
    "trainable_count",
]
