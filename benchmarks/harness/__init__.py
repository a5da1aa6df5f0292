"""The data, models and training loop behind `benchmarks/` (not in the wheel).

One home for what the benchmark scripts share (they run as modules from the
repository's root, `python -m benchmarks.speed.fit_speed`, and import
`benchmarks.harness`):
the offline data sets (`load_digits_split`, `load_friedman1`,
`load_mnist1d`), the compared models (`digits_models`, `mnist1d_models`,
`residual_mlp`), and the training recipe over seeds (`fit_and_score`,
`scores_over_seeds`, `trainable_count`); in submodules, the equal-budget
baselines (`baselines`: a narrower Dense net, a low-rank pair, and the
verdict), the fine-tuning methods (`fine_tuning`) and side-by-side timing
(`timing`). Needs the `[examples]` extra (scikit-learn, mnist1d).
"""

from benchmarks.harness.data import (
    load_digits_split,
    load_friedman1,
    load_mnist1d,
)
from benchmarks.harness.models import (
    digits_models,
    mnist1d_models,
    residual_mlp,
    trainable_count,
)
from benchmarks.harness.training import fit_and_score, scores_over_seeds

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
