"""The data `compress` fits on: arrays or batches, checked against the model."""

import keras
import numpy as np


def sample_inputs(model, x, y, limit):
    """The first `limit` input rows of `x` as NumPy (same structure as the
    model's inputs), whether labels come with them, and whether `x` is arrays
    (else batches: a `tf.data.Dataset`, `keras.utils.PyDataset` or other
    iterable of `inputs` or `(inputs, labels, ...)`). Clear errors for an
    empty `x`, one that does not fit `model`, or NaN or infinite values (in
    all of `x` and `y` for arrays, in the first `limit` rows of batches)."""
    if _is_arrays(x):
        sizes = {int(leaf.shape[0]) for leaf in keras.tree.flatten(x)}
        if len(sizes) != 1:
            raise ValueError(f"`x`'s arrays must have the same length; got {sizes}.")
        (size,) = sizes
        if size == 0:
            raise ValueError("`x` is empty: it needs at least one sample.")
        if y is not None and len(y) != size:
            raise ValueError(
                f"`y` must have one label per sample of `x` ({size}); got {len(y)}."
            )
        for leaf in keras.tree.flatten(x):
            check_finite("`x`", leaf)
        if y is not None:
            check_finite("`y`", y)
        sample = keras.tree.map_structure(lambda a: np.asarray(a[:limit]), x)
        has_labels, arrays = y is not None, True
    else:
        if y is not None:
            raise ValueError(
                "`y` must be None when `x` is a dataset: the dataset yields "
                "`(inputs, labels)` itself."
            )
        sample, has_labels = _first_rows(x, limit)
        for leaf in keras.tree.flatten(sample):  # later batches are not read here
            check_finite("`x`", leaf)
        arrays = False
    _check_fits(model, sample)
    return sample, has_labels, arrays


def check_finite(what, array):
    """A clear error for NaN or infinite values: one of them anywhere made
    every output of the distilled student NaN."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.inexact):
        return
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(array), -1).any(axis=1))
        raise ValueError(
            f"{what} holds {int(bad.sum())} NaN or infinite value(s), in rows "
            f"{rows[:5].tolist()}{' ...' if len(rows) > 5 else ''}: distillation "
            "would make every output of the student NaN. Drop or impute them first."
        )


def _is_arrays(x):
    leaves = keras.tree.flatten(x)
    return bool(leaves) and all(
        hasattr(leaf, "shape") and hasattr(leaf, "__getitem__") and len(leaf.shape)
        for leaf in leaves
    )


def _batches(x):
    if isinstance(x, keras.utils.PyDataset):
        return (x[i] for i in range(len(x)))
    try:
        return iter(x)
    except TypeError:
        raise TypeError(
            "`x` must be arrays, a tf.data.Dataset, a keras.utils.PyDataset or "
            f"an iterable of batches; got {type(x).__name__}."
        ) from None


def _first_rows(x, limit):
    parts, rows, has_labels = [], 0, False
    for batch in _batches(x):
        if isinstance(batch, (tuple, list)) and len(batch) == 1:
            batch = batch[0]
        elif isinstance(batch, tuple):
            batch, has_labels = batch[0], True
        batch = keras.tree.map_structure(np.asarray, batch)
        parts.append(batch)
        rows += int(keras.tree.flatten(batch)[0].shape[0])
        if rows >= limit:
            break
    if rows == 0:
        raise ValueError("`x` is empty: it yielded no samples.")
    sample = keras.tree.map_structure(
        lambda *leaves: np.concatenate(leaves)[:limit], *parts
    )
    return sample, has_labels


def _check_fits(model, sample):
    if isinstance(sample, dict):
        expected = {tensor.name: tensor for tensor in model.inputs}
        if set(sample) != set(expected):
            raise ValueError(
                f"`x`'s keys {sorted(sample)} must be the input names of "
                f"'{model.name}': {sorted(expected)}."
            )
        pairs = [(sample[name], expected[name]) for name in sorted(sample)]
    else:
        leaves = keras.tree.flatten(sample)
        if len(leaves) != len(model.inputs):
            raise ValueError(
                f"`x` holds {len(leaves)} input arrays but '{model.name}' takes "
                f"{len(model.inputs)}."
            )
        pairs = list(zip(leaves, model.inputs, strict=True))
    for array, tensor in pairs:
        got, wanted = tuple(array.shape[1:]), tuple(tensor.shape[1:])
        fits = len(got) == len(wanted) and all(
            w is None or g == w for g, w in zip(got, wanted, strict=True)
        )
        if not fits:
            raise ValueError(
                f"`x` has samples of shape {got}, but '{model.name}' expects "
                f"inputs of shape {wanted}."
            )
