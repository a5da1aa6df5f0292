"""What a user would pick instead of our layers at the same parameter count:
a narrower Dense net (`widest_size`, `widest_within`) and a low-rank Dense
pair (`low_rank_pair`, `low_rank_middle`)."""

import keras

from keras_crosswise.experiments.models import trainable_count


def widest_size(build, budget, high=1024):
    """The largest `size` in 1..`high` whose `build(size)` has at most
    `budget` trainable parameters (counts grow with `size`); 0 if none."""
    if trainable_count(build(1)) > budget:
        return 0
    low = 1
    while low < high:
        middle = (low + high + 1) // 2
        if trainable_count(build(middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


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
