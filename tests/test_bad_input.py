"""Bad files and bad configs raise clear errors quickly; never crash, hang or
allocate gigabytes."""

import json
import time
import zipfile

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_crosswise.layers import (
    CZDense,
    FastfoodDense,
    McKernel,
    RandomFourierFeatures,
)

from model_zoo import INPUT_DIM, build_model, sample_inputs

LOAD_ERRORS = (ValueError, TypeError, OSError, zipfile.BadZipFile, KeyError)


@pytest.fixture
def saved_model(tmp_path):
    path = tmp_path / "model.keras"
    build_model("FastfoodDense").save(path)
    return path


def assert_fails_fast(path, errors=LOAD_ERRORS):
    start = time.perf_counter()
    with pytest.raises(errors):
        keras.models.load_model(path)
    assert time.perf_counter() - start < 60


def test_truncated_file(saved_model):
    data = saved_model.read_bytes()
    saved_model.write_bytes(data[: len(data) // 2])
    assert_fails_fast(saved_model)


def test_corrupted_bytes(saved_model):
    data = bytearray(saved_model.read_bytes())
    rng = np.random.default_rng(0)
    for position in rng.integers(0, len(data), size=200):
        data[position] ^= 0xFF
    saved_model.write_bytes(bytes(data))
    assert_fails_fast(saved_model)


def rewrite_config(path, edit):
    """Rewrite config.json inside a .keras archive with `edit(layer_config)`."""
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    edit(config["config"]["layers"][1]["config"])
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(units=-4), "units"),
        (lambda c: c.update(units=10**12), "units"),
        (lambda c: c.update(units="20"), "units"),
        (lambda c: c.update(activation="no_such_activation"), "activation"),
        (lambda c: c.update(seed=-1), "seed"),
    ],
)
def test_bad_config_in_file(saved_model, edit, message):
    rewrite_config(saved_model, edit)
    start = time.perf_counter()
    with pytest.raises((ValueError, TypeError), match=message):
        keras.models.load_model(saved_model)
    assert time.perf_counter() - start < 60


@pytest.mark.parametrize(
    "make",
    [
        lambda: CZDense(2**29),
        lambda: FastfoodDense(10**12),
        lambda: McKernel(10**12),
        lambda: McKernel(8, kernel="matern", matern_t=10**6),
    ],
)
def test_huge_sizes_are_refused_before_allocation(make):
    with pytest.raises(ValueError, match="at most"):
        make()


@pytest.mark.parametrize("layer_class", [CZDense, FastfoodDense, McKernel])
def test_huge_input_width_is_refused_at_build(layer_class):
    layer = layer_class(4)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="GiB"):
        layer.build((None, 2**30))
    assert time.perf_counter() - start < 5


def junk():
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 40),
        st.sampled_from([0, -1, 2**28 + 1, 10**15]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=6),
        st.lists(st.integers(0, 3), max_size=2),
    )


FIELDS = {
    CZDense: {
        "units": junk(),
        "activation": st.one_of(st.sampled_from(["relu", "tanh", None]), junk()),
        "use_bias": junk(),
        "kernel_initializer": st.one_of(st.sampled_from(["ones", None]), junk()),
        "kernel_regularizer": st.one_of(st.sampled_from(["l2", None]), junk()),
    },
    FastfoodDense: {
        "units": junk(),
        "activation": st.one_of(st.sampled_from(["relu", None]), junk()),
        "seed": junk(),
        "scale_initializer": st.one_of(st.sampled_from(["ones", "zeros"]), junk()),
        "gaussian_constraint": st.one_of(st.sampled_from(["non_neg", None]), junk()),
    },
    McKernel: {
        "num_features": junk(),
        "kernel": st.one_of(st.sampled_from(["gaussian", "matern"]), junk()),
        "sigma": junk(),
        "matern_t": st.one_of(st.integers(1, 5), junk()),
        "seed": junk(),
        "trainable_sigma": junk(),
    },
}

REQUIRED = {CZDense: "units", FastfoodDense: "units", McKernel: "num_features"}
# One valid value of every field the strategies above sample from.
VALID = {
    CZDense: {"activation": "tanh", "use_bias": False, "kernel_initializer": "ones"},
    FastfoodDense: {"activation": "relu", "seed": 3, "scale_initializer": "zeros"},
    McKernel: {"kernel": "matern", "sigma": 2.0, "matern_t": 3, "seed": 1},
}
VALID[CZDense]["kernel_regularizer"] = "l2"
VALID[FastfoodDense]["gaussian_constraint"] = "non_neg"
VALID[McKernel]["trainable_sigma"] = True


@pytest.mark.backend_independent
@pytest.mark.parametrize("layer_class", list(FIELDS), ids=lambda c: c.__name__)
def test_a_valid_config_builds(layer_class):
    """The other half of the next test: valid values are accepted (a layer
    that refused every config would pass it)."""
    assert set(VALID[layer_class]) | {REQUIRED[layer_class]} == set(FIELDS[layer_class])
    layer = layer_class.from_config({REQUIRED[layer_class]: 8, **VALID[layer_class]})
    output = layer(sample_inputs(count=3))
    assert tuple(output.shape) == tuple(layer.compute_output_shape((3, INPUT_DIM)))


@pytest.mark.backend_independent
@pytest.mark.parametrize("layer_class", list(FIELDS), ids=lambda c: c.__name__)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_from_config_builds_a_working_layer_or_raises_clearly(layer_class, data):
    fields = dict(FIELDS[layer_class])
    required = REQUIRED[layer_class]  # valid half the time
    required = {required: st.one_of(st.integers(1, 64), fields.pop(required))}
    config = data.draw(st.fixed_dictionaries(required, optional=fields), label="config")
    try:
        layer = layer_class.from_config(config)
        output = layer(sample_inputs(count=3))
    except (ValueError, TypeError) as error:
        # A clear error names the argument at fault: one the config gave
        # (an empty config, all defaults, must build).
        assert any(key in str(error) for key in config), (config, error)
        return
    expected = layer.compute_output_shape((3, INPUT_DIM))
    assert tuple(output.shape) == tuple(expected)


def test_a_huge_mckernel_in_a_file_is_refused_before_allocation(tmp_path):
    # A 31 KB file asking for num_features=2**28 grew a process by 4-8 GiB.
    path = tmp_path / "model.keras"
    build_model("McKernel").save(path)
    rewrite_config(path, lambda c: c.update(num_features=2**28))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="num_features"):
        keras.models.load_model(path, safe_mode=True)
    assert time.perf_counter() - start < 60


@pytest.mark.parametrize("layer_class", [FastfoodDense, McKernel])
def test_a_transform_row_over_the_limit_is_refused_at_build(layer_class):
    # Every weight under the per-weight limit, the row of the transform not.
    layer = layer_class(4)
    with pytest.raises(ValueError, match="rows of 33554432 elements"):
        layer.build((None, 2**25))


@pytest.mark.parametrize(
    "make",
    [
        lambda: CZDense(4),
        lambda: FastfoodDense(4),
        lambda: McKernel(4),
        lambda: RandomFourierFeatures(4),
    ],
)
def test_width_zero_inputs_are_refused(make):
    # CZDense divided by zero at call; RandomFourierFeatures returned NaN.
    with pytest.raises(ValueError, match="at least one feature"):
        make()(np.zeros((2, 0), "float32"))
    with pytest.raises(ValueError, match="at least one feature"):
        make().compute_output_shape((2, 0))


@pytest.mark.parametrize(
    "make",
    [
        lambda: CZDense(None),
        lambda: CZDense(2.5),
        lambda: FastfoodDense(2.5),
        lambda: FastfoodDense(None),
        lambda: McKernel(2.5),
        lambda: RandomFourierFeatures(None),
    ],
)
def test_non_integer_sizes_raise_value_error_as_dense_does(make):
    with pytest.raises(ValueError, match="positive integer"):
        keras.layers.Dense(2.5)  # the contract (Keras's dense_test.py)
    with pytest.raises(ValueError, match="positive integer"):
        make()


def sparse_tensor(dense):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.sparse.from_dense(dense)
    if backend == "jax":
        from jax.experimental import sparse

        return sparse.BCOO.fromdense(dense)
    import torch

    return torch.tensor(dense).to_sparse()


@pytest.mark.parametrize(
    "make",
    [
        lambda: CZDense(8),
        lambda: FastfoodDense(8, seed=0),
        lambda: McKernel(8, seed=0),
        lambda: RandomFourierFeatures(8, structure="orthogonal", seed=0),
    ],
    ids=["CZDense", "FastfoodDense", "McKernel", "RandomFourierFeatures"],
)
def test_sparse_inputs_give_the_dense_result(make, rng):
    # Dense takes sparse inputs; CZDense failed on TensorFlow, JAX and
    # PyTorch, FastfoodDense and McKernel on TensorFlow and PyTorch.
    dense = rng.standard_normal((4, 10)).astype("float32")
    dense[dense < 0.3] = 0.0
    layer = make()
    expected = keras.ops.convert_to_numpy(layer(dense))
    got = keras.ops.convert_to_numpy(layer(sparse_tensor(dense)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    if keras.backend.backend() != "torch":  # keras.Input(sparse=True): TF, JAX
        inputs = keras.Input((10,), sparse=True)
        model = keras.Model(inputs, keras.layers.Dense(2)(make()(inputs)))
        model.compile("adam", "mse")
        model.fit(sparse_tensor(dense), np.zeros((4, 2)), verbose=0, batch_size=4)


@pytest.mark.parametrize(
    "layer",
    [CZDense(5, rank=2), CZDense(3), FastfoodDense(5, seed=1)],
    ids=["cz_rank2", "cz", "fastfood"],
)
def test_bool_and_int_inputs_are_taken_as_dense_takes_them(layer, rng):
    """Issue 39, item 16: CZDense(rank=2) failed on a bool input on
    TensorFlow; Keras's Dense takes it (as floats)."""
    flags = rng.random((4, 6)) > 0.5
    as_floats = keras.ops.convert_to_numpy(layer(flags.astype("float32")))
    for given_ in (flags, flags.astype("int32")):
        result = keras.ops.convert_to_numpy(layer(given_))
        assert result.dtype == np.float32
        np.testing.assert_array_equal(result, as_floats)


def test_compute_output_shape_of_none_is_a_value_error():
    """tf-keras raises ValueError; a TypeError came from `tuple(None)`."""
    for layer in (RandomFourierFeatures(8), CZDense(4), McKernel(8)):
        with pytest.raises(ValueError, match="got input shape None"):
            layer.compute_output_shape(None)


def test_an_unknown_native_switch_warns_and_stays_on(monkeypatch):
    from keras_crosswise import native

    for value, on in (("0", False), ("Off", False), ("yes", True), ("", True)):
        monkeypatch.setenv("KERAS_CROSSWISE_NATIVE", value)
        assert native.enabled() is on
    monkeypatch.setenv("KERAS_CROSSWISE_NATIVE", "disabled")
    with pytest.warns(UserWarning, match="'disabled' is not one of"):
        assert native.enabled() is True
