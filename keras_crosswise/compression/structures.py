"""`compress_layer`: one trained Dense layer as a structured one."""

from keras_crosswise._validation import check_seed
from keras_crosswise.layers._structured_dense import check_trained_dense
from keras_crosswise.layers.cz_dense import CZDense
from keras_crosswise.layers.fastfood_dense import FastfoodDense

# What `into=` names. A structured layer joins `compress` with a `from_dense`
# class method and an entry here.
REPLACEMENTS = {"fastfood": FastfoodDense, "cz": CZDense}


def check_into(into):
    if into not in REPLACEMENTS:
        raise ValueError(f"`into` must be one of {tuple(REPLACEMENTS)}; got {into!r}.")
    return into


def compress_layer(dense_layer, into="fastfood", seed=None):
    """A CZDense or FastfoodDense initialised from a trained, built `Dense`.

    The new layer keeps the Dense layer's name, `units`, `activation`,
    `use_bias`, dtype policy and bias, and is built for the same input
    width. Its weights are the least-squares projection of the trained
    kernel onto the structure (no data needed), by the structured layer's
    own `from_dense`:

    - `"cz"`: `CZDense.from_dense`, the entries of the kernel that the
      diagonal blocks keep (the exact projection);
    - `"fastfood"`: `FastfoodDense.from_dense`, B and Pi drawn at random,
      then G and S fitted in closed form (see `docs/compress.md`); it keeps
      only a part of a dense kernel, so `compress` follows it with a fit on
      data.

    Kernel and bias regularizers and constraints are not carried over.

    Args:
        dense_layer: a built `keras.layers.Dense` (not quantized).
        into: `"fastfood"` (FastfoodDense) or `"cz"` (CZDense).
        seed: integer or `None`, FastfoodDense's seed.

    Returns:
        A built CZDense or FastfoodDense layer.

    Example:

    >>> dense = keras.layers.Dense(64, activation="relu")
    >>> dense.build((None, 32))
    >>> layer = keras_crosswise.compress_layer(dense, into="cz")
    >>> layer.name == dense.name, layer.units, tuple(layer.kernel.shape)
    (True, 64, (64,))
    """
    into = check_into(into)
    check_trained_dense(dense_layer, "dense_layer")
    seed = check_seed(seed)
    if into == "fastfood":
        return FastfoodDense.from_dense(dense_layer, seed=seed)
    return REPLACEMENTS[into].from_dense(dense_layer)


def fresh_layer(dense_layer, into="fastfood", seed=None):
    """A new CZDense or FastfoodDense of `dense_layer`'s structure (name,
    units, activation, bias use, dtype policy, input width), built with its
    own initialisation: the student of the naive recipe."""
    into = check_into(into)
    check_trained_dense(dense_layer, "dense_layer")
    extra = {"seed": check_seed(seed)} if into == "fastfood" else {}
    return REPLACEMENTS[into]._like_dense(dense_layer, **extra)
