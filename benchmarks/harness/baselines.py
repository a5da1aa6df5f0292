"""What a user would pick instead of our layers at the same parameter count:
a narrower Dense net (`widest_size`, `widest_within`) and a low-rank Dense
pair (`low_rank_pair`, `low_rank_middle`); and how a model of ours fares
against them (`verdict`)."""

import keras
from keras.src.backend.common import global_state

from benchmarks.harness.models import trainable_count


def widest_size(build, budget, high=1024):
    """The largest `size` in 1..`high` whose `build(size)` has at most
    `budget` trainable parameters (counts grow with `size`); 0 if none."""
    if _count(build, 1) > budget:
        return 0
    low = 1
    while low < high:
        middle = (low + high + 1) // 2
        if _count(build, middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _count(build, size):
    """Trainable parameters of `build(size)`, its weights never initialised:
    on JAX each new shape's random draw compiles (~0.3 s), and a binary
    search builds dozens. Keras queues the deferred weights for a later
    initialisation and has no public call to drop them, so the queue is
    restored afterwards."""
    pending = "uninitialized_variables"
    before = list(global_state.get_global_attribute(pending, []))
    with keras.StatelessScope(initialize_variables=False):
        count = trainable_count(build(size))
    global_state.set_global_attribute(pending, before)
    return count


def widest_within(build, budget, high=1024):
    """`build(size)` at `widest_size` (size 1 if even that is over)."""
    return build(max(1, widest_size(build, budget, high)))


def low_rank_pair(rank, units, activation=None, input_dim=None):
    """`Dense(rank, no bias) -> Dense(units, activation)`: a rank-`rank`
    kernel with `rank * (inputs + units) + units` parameters."""
    layers = [
        keras.layers.Dense(rank, use_bias=False),
        keras.layers.Dense(units, activation=activation),
    ]
    if input_dim is not None:
        layers.insert(0, keras.Input((input_dim,)))
    return keras.Sequential(layers)


def low_rank_middle(rank):
    """A `residual_mlp(middle=...)` factory: the middle layer as a rank-`rank`
    pair."""

    def middle(units, activation=None):
        return low_rank_pair(rank, units, activation)

    return middle


def verdict(models, baselines, pairs, metric="accuracy"):
    """Table rows: each model of ours (`pairs`: name -> its baselines' names)
    against its equal-budget baselines, by `{metric}_mean` and `{metric}_std`
    (higher is better). "win" or "loss" when the means differ by more than
    the larger std, else "tie"; the gap in points (x 100)."""
    rows = []
    for name, names in pairs.items():
        ours = models[name]
        for baseline in names:
            other = baselines[baseline]
            gap = ours[f"{metric}_mean"] - other[f"{metric}_mean"]
            spread = max(ours[f"{metric}_std"], other[f"{metric}_std"])
            call = "win" if gap > spread else "loss" if gap < -spread else "tie"
            rows.append(
                [
                    name,
                    f"{ours['trainable']:,d}",
                    baseline,
                    f"{other['trainable']:,d}",
                    f"{100 * gap:+.1f}",
                    call,
                ]
            )
    return rows


def dense_fourier_features(x, weights):
    """Random Fourier features with a dense projection: `[cos(x W), sin(x W)]`,
    the O(d D) computation McKernel replaces."""
    projected = keras.ops.matmul(x, weights)
    return keras.ops.concatenate(
        [keras.ops.cos(projected), keras.ops.sin(projected)], axis=-1
    )
