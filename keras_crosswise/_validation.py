"""Argument checks shared by the layers: clear errors instead of backend traces."""

import math
import numbers

import numpy as np

# The largest weight a layer of this package creates: 2**28 elements, 1 GiB of
# float32. Anything larger is almost surely a wrong argument or a corrupted
# config, and is refused before any memory is allocated.
MAX_WEIGHT_ELEMENTS = 2**28
# The widest row a layer transforms (McKernel's num_features, a Fastfood
# block row): 2**24 elements, 64 MiB of float32 per sample. A call holds a
# few such rows per sample; wider is refused before anything is allocated.
MAX_FEATURES = 2**24


def check_positive_int(name, value, maximum=None):
    """Return `value` as an `int`, or raise a clear `ValueError` naming
    `name` (as `keras.layers.Dense` does for `units`, wrong types included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"`{name}` must be a positive integer; "
            f"got {value!r} of type {type(value).__name__}."
        )
    if value <= 0:
        raise ValueError(f"`{name}` must be a positive integer; got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be at most {maximum}; got {value}.")
    return int(value)


def check_weight_size(layer_name, weight_name, shape):
    """Refuse a weight over MAX_WEIGHT_ELEMENTS before allocating it."""
    size = math.prod(shape)
    if size > MAX_WEIGHT_ELEMENTS:
        raise ValueError(
            f"{layer_name} would create a weight `{weight_name}` of shape {shape} "
            f"({size * 4 / 2**30:.1f} GiB of float32), over the limit of "
            f"{MAX_WEIGHT_ELEMENTS} elements (1 GiB). Check the layer's arguments "
            "and input size."
        )


def check_layer_size(layer_name, shapes, row=None):
    """Refuse a layer whose weights (`{name: shape}`) hold more than
    MAX_WEIGHT_ELEMENTS together, or whose transformed row (`row` elements
    per sample) is wider than MAX_FEATURES, before allocating anything."""
    for name, shape in shapes.items():
        check_weight_size(layer_name, name, shape)
    total = sum(math.prod(shape) for shape in shapes.values())
    if total > MAX_WEIGHT_ELEMENTS:
        sizes = ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())
        raise ValueError(
            f"{layer_name} would create weights of {total} elements in all "
            f"({total * 4 / 2**30:.1f} GiB of float32: {sizes}), over the limit "
            f"of {MAX_WEIGHT_ELEMENTS} elements (1 GiB). Check the layer's "
            "arguments and input size."
        )
    if row is not None and row > MAX_FEATURES:
        raise ValueError(
            f"{layer_name} would transform rows of {row} elements per sample, "
            f"over the limit of {MAX_FEATURES} ({MAX_FEATURES * 4 // 2**20} MiB "
            "of float32). Check the layer's arguments and input size."
        )


def check_feature_axis(layer_name, input_shape):
    """Return the size of the last axis of `input_shape`, which must be defined."""
    if input_shape is None:
        raise ValueError(
            f"{layer_name} expects inputs of shape (..., features); got input "
            "shape None."
        )
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
    if features < 1:
        raise ValueError(
            f"{layer_name} needs at least one feature on the last axis; "
            f"got input shape {input_shape}."
        )
    return int(features)


def check_seed(seed, name="seed"):
    """`None` or a non-negative integer seed; errors name the argument `name`."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(
            f"`{name}` must be a non-negative integer or None; got {seed!r}."
        )
    return int(seed)


def check_real(name, value, minimum=None, strict=False):
    """Return `value` as a finite `float`, or raise a clear error naming `name`.

    Accepts any `numbers.Real` (Python and NumPy ints and floats), never `bool`.
    With `minimum`, the value must be `>= minimum` (`> minimum` when `strict`).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a real number; "
            f"got {value!r} of type {type(value).__name__}."
        )
    value = float(value)
    too_small = minimum is not None and (
        value <= minimum if strict else value < minimum
    )
    if not math.isfinite(value) or too_small:
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum}"
        raise ValueError(f"`{name}` must be a finite number{bound}; got {value}.")
    return value


def check_positive_real(name, value):
    """Return `value` as a finite positive `float` (see `check_real`)."""
    return check_real(name, value, minimum=0.0, strict=True)


def check_sigma(sigma, name="sigma"):
    """A kernel length scale whose inverse is a finite, non-zero float32
    (outside that range every feature is NaN or constant)."""
    sigma = check_positive_real(name, sigma)
    info = np.finfo(np.float32)
    tiny, huge = float(info.tiny), float(info.max)
    if not tiny <= sigma <= huge:
        raise ValueError(
            f"`{name}` must lie in [{tiny:.3g}, {huge:.3g}] (its inverse must be "
            f"a finite, non-zero float32); got {sigma}."
        )
    return sigma


# The seed of each random weight, from the layer's `seed`: `seed + offset`, so
# one layer seed gives distinct, reproducible draws per weight. Saved files
# and the cross-backend seed tests depend on these numbers: never change one.
SEED_OFFSETS = {
    "signs": 0,  # B (and RandomFourierFeatures' dense W)
    "permutation": 1,  # Pi
    "gaussian": 2,  # G
    "scale": 3,  # C: the row lengths
    "phase": 5,  # RandomFourierFeatures' bias
}
# `compress` seeds its i-th structured layer with `seed + LAYER_SEED_STRIDE * i`.
LAYER_SEED_STRIDE = 8


def offset_seed(seed, weight):
    """The seed of `weight` (a key of `SEED_OFFSETS`); `None` stays `None`."""
    return None if seed is None else seed + SEED_OFFSETS[weight]


def layer_state_problem(layer, quantization=(None,), lora=False):
    """Why the Dense-like `layer` cannot be read or rewritten as it is, or
    `None`: it is not built, it is quantized in a mode outside
    `quantization`, or (unless `lora`) it has LoRA enabled. Phrased to
    follow the layer's name: "'dense' must be built ...". The one check of
    `from_dense`, `compress` and the adapters."""
    if not layer.built:
        return "must be built (call it on data or `build(input_shape)` first)"
    mode = getattr(layer, "quantization_mode", None)
    if mode not in quantization:
        allowed = ", ".join("float" if m is None else repr(m) for m in quantization)
        return f"is quantized ({mode!r}); this takes {allowed} layers"
    if not lora and getattr(layer, "lora_enabled", False):
        return "has LoRA enabled (merge it first: a layer takes one adapter)"
    return None
