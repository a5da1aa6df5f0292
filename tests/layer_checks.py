"""What Keras's own `run_layer_test` checks, for any layer of this package."""

import keras
import numpy as np
import scipy.linalg

BACKEND = keras.backend.backend()
# torch.compile takes minutes per model; Keras's torch default is eager.
JIT = BACKEND in ("tensorflow", "jax")


def to_numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def check_config_round_trip(layer):
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"keras_crosswise>{type(layer).__name__}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert restored.get_config() == config


def check_shapes_and_dtypes(layer_factory, input_shape, output_shape, rng):
    """Symbolic and eager output shapes agree with compute_output_shape."""
    symbolic_in = keras.Input(batch_shape=(None, *input_shape[1:]))
    layer = layer_factory()
    symbolic_out = layer(symbolic_in)
    assert tuple(symbolic_out.shape) == (None, *output_shape[1:])
    assert symbolic_out.dtype == "float32"
    x = rng.standard_normal(input_shape).astype("float32")
    eager = layer(x)
    assert tuple(eager.shape) == tuple(output_shape)
    assert keras.backend.standardize_dtype(eager.dtype) == "float32"
    assert tuple(layer.compute_output_shape(input_shape)) == tuple(output_shape)


def check_fit_step(layer_factory, input_shape, output_shape, rng):
    """One `fit` step (jit-compiled where supported) changes the weights."""
    model = keras.Sequential([keras.Input(input_shape[1:]), layer_factory()])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=JIT)
    x = rng.standard_normal(input_shape).astype("float32")
    y = rng.standard_normal(output_shape).astype("float32")
    before = [to_numpy(w) for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=input_shape[0], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [to_numpy(w) for w in model.trainable_weights]
    assert any(not np.allclose(b, a) for b, a in zip(before, after, strict=True))
    return model


def check_mixed_precision(layer_factory, input_shape, rng, policies=None):
    """Variables stay float32, outputs follow the compute dtype; fit works."""
    for policy in policies or ("mixed_float16", "mixed_bfloat16"):
        keras.config.set_dtype_policy(policy)
        try:
            layer = layer_factory()
            compute = keras.DTypePolicy(policy).compute_dtype
            x = rng.standard_normal(input_shape).astype("float32")
            out = layer(x)
            assert keras.backend.standardize_dtype(out.dtype) == compute
            float_weights = [
                w for w in layer.weights if keras.backend.is_float_dtype(w.dtype)
            ]
            assert all(w.dtype == "float32" for w in float_weights)
            assert np.all(np.isfinite(to_numpy(out).astype("float32")))
            model = keras.Sequential([keras.Input(input_shape[1:]), layer_factory()])
            model.compile(optimizer="sgd", loss="mse", jit_compile=JIT)
            y = to_numpy(model(x)).astype("float32")
            model.fit(x, y, epochs=1, verbose=0)
        finally:
            keras.config.set_dtype_policy("float32")


def check_save_and_load(model, tmp_path, rng, input_shape):
    """A `.keras` round trip on this backend gives the same predictions."""
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    x = rng.standard_normal(input_shape).astype("float32")
    np.testing.assert_allclose(
        to_numpy(restored(x)), to_numpy(model(x)), rtol=0, atol=1e-6
    )


def run_layer_checks(
    layer_factory,
    input_shape,
    output_shape,
    num_params,
    rng,
    tmp_path,
    *,
    trainable_weights,
    non_trainable_weights,
):
    """All of the above for one layer configuration; the weight counts (how
    many variables, as `run_layer_test`'s `expected_num_trainable_weights`)
    checked after build, after a config round trip and in the fit model."""
    layer = layer_factory()
    check_config_round_trip(layer)
    layer.build(input_shape)
    assert layer.count_params() == num_params
    counts = (len(layer.trainable_weights), len(layer.non_trainable_weights))
    assert counts == (trainable_weights, non_trainable_weights), counts
    clone = type(layer).from_config(layer.get_config())
    clone.build(input_shape)
    assert (len(clone.trainable_weights), len(clone.non_trainable_weights)) == counts
    check_config_round_trip(layer)
    check_shapes_and_dtypes(layer_factory, input_shape, output_shape, rng)
    model = check_fit_step(layer_factory, input_shape, output_shape, rng)
    check_mixed_precision(layer_factory, input_shape, rng)
    check_save_and_load(model, tmp_path, rng, input_shape)


def assert_unbiased(grams, exact):
    """The mean of independent kernel estimates is within 4.5 standard errors
    of the exact kernel, entry by entry (a false alarm about 1 in 10^5 per
    entry), plus a float32 allowance."""
    grams = np.asarray(grams)
    error = np.abs(grams.mean(axis=0) - exact)
    standard_error = grams.std(axis=0, ddof=1) / np.sqrt(len(grams))
    assert np.all(error <= 4.5 * standard_error + 1e-4), (error.max(), standard_error)


def fastfood_reference_kernel(signs, permutation, gaussian, scale, d):
    """(d, units): the rows of S H G Pi H B, block by block, from dense matrices."""
    blocks, n = signs.shape
    hadamard = scipy.linalg.hadamard(n).astype("float64")
    rows = []
    for b in range(blocks):
        pi = np.eye(n)[permutation[b]]  # (Pi v)[i] = v[permutation[i]]
        rows.append(hadamard @ np.diag(gaussian[b]) @ pi @ hadamard @ np.diag(signs[b]))
    stacked = np.vstack(rows)[: scale.shape[0], :d]
    constant = np.sqrt(n / d) / n
    return (stacked * (scale * constant)[:, None]).T
