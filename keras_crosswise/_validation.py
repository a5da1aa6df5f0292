"""Argument checks shared by the layers: clear errors instead of backend traces."""

import numbers


def check_positive_int(name, value):
    """Return `value` as an `int`, or raise a clear error naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be a positive integer; "
            f"got {value!r} of type {type(value).__name__}."
        )
    if value <= 0:
        raise ValueError(f"`{name}` must be a positive integer; got {value}.")
    return int(value)


def check_feature_axis(layer_name, input_shape):
    """Return the size of the last axis of `input_shape`, which must be defined."""
    input_shape = tuple(input_shape)
    if len(input_shape) < 2:
        raise ValueError(
            f"{layer_name} expects inputs of shape (..., features) with rank >= 2; "
            f"got input shape {input_shape}."
        )
    features = input_shape[-1]
    if features is None:
        raise ValueError(
            f"{layer_name} needs a defined last dimension (features); "
            f"got input shape {input_shape}."
        )
    return int(features)


def check_seed(seed):
    """`None` or a non-negative integer seed."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"`seed` must be a non-negative integer or None; got {seed!r}.")
    return int(seed)
