"""Side-by-side timing helpers: compile per backend, interleave, take medians."""

import statistics
import time

import keras
import numpy as np

from keras_crosswise import native


def without_native(thunk):
    """`thunk` run inside `native.disabled()` at every call: the portable
    `keras.ops` path (PyTorch's eager calls decide per call; a compiled
    function keeps the path it was traced with)."""

    def called():
        with native.disabled():
            return thunk()

    return called


def compile_function(fn, xla=True):
    """`fn` jit-compiled where the backend has a cheap compiler (TF, JAX); on
    TensorFlow, `xla=False` gives a `tf.function` without XLA (where a custom
    op runs)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=xla)
    return fn


def block(value):
    """Wait for an asynchronous result and return it, without copying it to
    the host where the backend can wait in place (JAX, PyTorch on a GPU): a
    copy would dominate a GPU timing."""
    if value is None:
        return None
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.block_until_ready(value)
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return value
    return keras.ops.convert_to_numpy(value)


def wall_time(thunk):
    """A measure for `interleaved_medians`: seconds `thunk()` takes."""

    def measure():
        start = time.perf_counter()
        block(thunk())
        return time.perf_counter() - start

    return measure


def interleaved_medians(candidates, repeats=7, warmup=2):
    """Median seconds per call of each `name -> thunk`, runs interleaved so
    that machine noise hits every candidate alike."""
    return interleaved_measures(
        {name: wall_time(thunk) for name, thunk in candidates.items()}, repeats, warmup
    )


def interleaved_measures(measures, repeats=7, warmup=2):
    """Median of each `name -> measure()` (a measure returns seconds), called
    in turn `repeats` times after `warmup` unrecorded calls each."""
    for measure in measures.values():
        for _ in range(warmup):
            measure()
    samples = {name: [] for name in measures}
    for _ in range(repeats):
        for name, measure in measures.items():
            samples[name].append(measure())
    return {name: statistics.median(values) for name, values in samples.items()}


def random_inputs(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")
