"""Side-by-side timing helpers: compile per backend, interleave, take medians."""

import statistics
import time

import keras
import numpy as np


def compile_function(fn):
    """`fn` jit-compiled where the backend has a cheap compiler (TF, JAX)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    return fn


def block(value):
    """Wait for an asynchronous result (JAX) and return it."""
    return keras.ops.convert_to_numpy(value) if value is not None else None


def interleaved_medians(candidates, repeats=7, warmup=2):
    """Median seconds per call of each `name -> thunk`, runs interleaved so
    that machine noise hits every candidate alike."""
    for thunk in candidates.values():
        for _ in range(warmup):
            block(thunk())
    samples = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, thunk in candidates.items():
            start = time.perf_counter()
            block(thunk())
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def random_inputs(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")
