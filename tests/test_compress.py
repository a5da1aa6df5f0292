"""compress and compress_layer: layer choice, projections against NumPy least
squares, distillation on a small model, save/reload, and bad input."""

import json

import keras
import numpy as np
import pytest

import keras_crosswise
from keras_crosswise import compress, compress_layer
from keras_crosswise.layers import CZDense, FastfoodDense

from layer_checks import fastfood_reference_kernel, to_numpy
from script_runner import runs_on

FAST = {"epochs": 1, "layer_epochs": 1, "verbose": 0, "seed": 0}


def built_dense(d, units, rng, **kwargs):
    layer = keras.layers.Dense(units, **kwargs)
    layer.build((None, d))
    layer.kernel.assign(rng.standard_normal((d, units)).astype("float32"))
    if layer.use_bias:
        layer.bias.assign(rng.standard_normal(units).astype("float32"))
    return layer


def mlp(d=16, widths=(128, 64), outputs=10, activation=None):
    return keras.Sequential(
        [
            keras.Input((d,)),
            *(keras.layers.Dense(w, activation="relu") for w in widths),
            keras.layers.Dense(outputs, activation=activation),
        ]
    )


@pytest.mark.backend_independent
@pytest.mark.parametrize(("d", "units"), [(8, 8), (6, 20), (20, 6), (7, 3)])
def test_cz_projection_keeps_the_structured_entries(d, units, rng):
    dense = built_dense(d, units, rng, activation="tanh")
    kernel = to_numpy(dense.kernel)
    rows, columns = np.indices((d, units))
    structured = columns % d == rows if units >= d else rows % units == columns
    layer = compress_layer(dense, into="cz")
    assert isinstance(layer, CZDense) and layer.name == dense.name
    np.testing.assert_array_equal(to_numpy(layer.to_dense_kernel()) != 0, structured)
    np.testing.assert_allclose(
        to_numpy(layer.to_dense_kernel()), np.where(structured, kernel, 0.0), atol=1e-6
    )
    np.testing.assert_allclose(to_numpy(layer.bias), to_numpy(dense.bias))
    x = rng.standard_normal((5, d)).astype("float32")
    expected = np.tanh(x @ np.where(structured, kernel, 0.0) + to_numpy(dense.bias))
    np.testing.assert_allclose(to_numpy(layer(x)), expected, atol=1e-5)


@pytest.mark.backend_independent
@pytest.mark.parametrize(("d", "units"), [(16, 16), (12, 16), (5, 16)])
def test_fastfood_projection_is_the_least_squares_fit(d, units, rng):
    """G from `lstsq` over all G (S = 1), then each S_j from its own column."""
    dense = built_dense(d, units, rng)
    kernel = to_numpy(dense.kernel).astype("float64")
    layer = compress_layer(dense, into="fastfood", seed=3)
    signs, permutation = to_numpy(layer.signs), to_numpy(layer.permutation)
    blocks, n = signs.shape
    ones = np.ones(units)

    def kernel_of(gaussian, scale=ones):
        return fastfood_reference_kernel(signs, permutation, gaussian, scale, d)

    basis = np.eye(blocks * n).reshape(-1, blocks, n)
    design = np.stack([kernel_of(g).ravel() for g in basis], axis=1)
    gaussian = np.linalg.lstsq(design, kernel.ravel(), rcond=None)[0]
    gaussian = gaussian.reshape(blocks, n)
    unscaled = kernel_of(gaussian)
    scale = np.array(
        [
            np.linalg.lstsq(unscaled[:, [j]], kernel[:, j], rcond=None)[0][0]
            for j in range(units)
        ]
    )
    np.testing.assert_allclose(to_numpy(layer.gaussian), gaussian, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(to_numpy(layer.scale), scale, rtol=1e-3, atol=1e-5)
    fitted = kernel_of(gaussian, scale)
    np.testing.assert_allclose(to_numpy(layer.to_dense_kernel()), fitted, atol=1e-4)
    fresh = FastfoodDense(units, seed=3)
    fresh.build((None, d))
    fresh_error = np.linalg.norm(to_numpy(fresh.to_dense_kernel()) - kernel)
    assert np.linalg.norm(fitted - kernel) < fresh_error


@pytest.mark.backend_independent
def test_fastfood_projection_with_trimmed_rows_still_helps(rng):
    dense = built_dense(10, 20, rng)  # n = 16, two blocks, 12 rows trimmed
    kernel = to_numpy(dense.kernel)
    projected = compress_layer(dense, into="fastfood", seed=1)
    fresh = FastfoodDense(20, seed=1)
    fresh.build((None, 10))
    assert np.linalg.norm(to_numpy(projected.to_dense_kernel()) - kernel) < (
        np.linalg.norm(to_numpy(fresh.to_dense_kernel()) - kernel)
    )


def test_layer_choice():
    model = mlp(16, (512, 16), outputs=512)  # kernels: 8192 weights each
    names = [layer.name for layer in model.layers]
    x = np.random.default_rng(0).standard_normal((64, 16)).astype("float32")
    student = compress(model, x, **FAST)
    kinds = [type(layer).__name__ for layer in student.layers]
    assert kinds == ["FastfoodDense", "FastfoodDense", "Dense"]
    assert [layer.name for layer in student.layers] == names
    student = compress(model, x, into="cz", layers=[names[1]], **FAST)
    assert [type(layer).__name__ for layer in student.layers] == [
        "Dense",
        "CZDense",
        "Dense",
    ]
    student = compress(model, x, layers=lambda layer: layer.units == 512, **FAST)
    assert [type(layer).__name__ for layer in student.layers] == [
        "FastfoodDense",
        "Dense",
        "FastfoodDense",
    ]
    student = compress(model, x, layers=[names[2]], **FAST)
    assert [type(layer).__name__ for layer in student.layers] == [
        "Dense",
        "Dense",
        "FastfoodDense",
    ]
    report = student.compression_report
    assert [entry.name for entry in report.layers] == [names[2]]
    assert report.layers[0].params_before == 16 * 512 + 512
    # B, Pi, G (32 x 16) and S, bias (512), as count_params() counts them.
    assert report.layers[0].params_after == 5 * 512
    assert report.layers[0].params_after == student.layers[2].count_params()
    assert report.params_before == model.count_params()
    assert report.params_after == student.count_params()
    assert "parameters" in str(report)


@pytest.fixture(scope="module")
def digits_teacher():
    """A trained digits MLP with softmax outputs, and its data."""
    from sklearn.datasets import load_digits

    features, labels = load_digits(return_X_y=True)
    x = (features / 16.0).astype("float32")
    keras.utils.set_random_seed(0)
    model = mlp(64, (256,), activation="softmax")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, labels, batch_size=64, epochs=15, verbose=0)
    return model, x, labels


def test_distilled_student_agrees_with_teacher(digits_teacher, tmp_path):
    teacher, x, labels = digits_teacher
    weights = [to_numpy(w).copy() for w in teacher.weights]
    flags = [layer.trainable for layer in teacher.layers]
    teacher_accuracy = teacher.evaluate(x, labels, verbose=0)[1]
    student = compress(teacher, x, labels, min_params=2000, epochs=15, verbose=0)
    assert isinstance(student.layers[0], FastfoodDense)
    report = student.compression_report
    assert report.params_after < report.params_before / 4
    assert report.agreement > 0.9, str(report)
    assert not student.compiled  # no optimizer state of zeros in its file
    student.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert student.evaluate(x, labels, verbose=0)[1] > teacher_accuracy - 0.1
    # The teacher is left exactly as it was.
    for before, after in zip(weights, teacher.weights, strict=True):
        np.testing.assert_array_equal(before, to_numpy(after))
    assert [layer.trainable for layer in teacher.layers] == flags
    # The student is a plain model: it saves, reloads, predicts and trains.
    path = tmp_path / "student.keras"
    student.save(path)
    reloaded = keras.saving.load_model(path)
    expected = student.predict(x[:32], verbose=0)
    np.testing.assert_allclose(reloaded.predict(x[:32], verbose=0), expected, atol=1e-5)
    reloaded.fit(x[:64], labels[:64], epochs=1, verbose=0)


def test_teacher_only_distillation_and_datasets(digits_teacher):
    teacher, x, _labels = digits_teacher

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 8

        def __getitem__(self, index):
            return x[index * 64 : (index + 1) * 64]

    for data in (x[:512], Batches()):
        student = compress(teacher, data, into="cz", min_params=2000, **FAST)
        assert isinstance(student.layers[0], CZDense)
        assert student.compression_report.samples == 512


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.data")
def test_tf_data_with_labels(digits_teacher):
    import tensorflow as tf

    teacher, x, labels = digits_teacher
    data = tf.data.Dataset.from_tensor_slices((x, labels)).batch(100)
    student = compress(teacher, data, min_params=2000, **FAST)
    assert student.compression_report.samples == len(x)


def test_functional_residual_model_and_regression(rng):
    inputs = keras.Input((12,))
    hidden = keras.layers.Dense(256, activation="relu", name="wide")(inputs)
    hidden = keras.layers.Add()([hidden, keras.layers.Dense(256, name="mix")(hidden)])
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))
    x = rng.standard_normal((128, 12)).astype("float32")
    student = compress(model, x, temperature=None, **FAST)
    assert [type(student.get_layer(n)).__name__ for n in ("wide", "mix", "out")] == [
        "Dense",
        "FastfoodDense",
        "Dense",
    ]
    assert student.compression_report.agreement is None
    # Before distillation, the kept layers hold the teacher's weights.
    student = compress(model, x, **{**FAST, "epochs": 0})
    np.testing.assert_array_equal(
        student.get_layer("wide").get_weights()[0],
        to_numpy(model.get_layer("wide").kernel),
    )


def with_dropout():
    return keras.Sequential(
        [keras.Input((16,)), keras.layers.Dropout(0.1, name="drop"), mlp()]
    )


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(128)

    def call(self, x):
        return self.dense(x)


def with_attention():
    inputs = keras.Input((4, 16))
    query = keras.layers.EinsumDense("abc,cd->abd", (4, 32), name="attention_query")
    pooled = keras.layers.GlobalAveragePooling1D()(query(inputs))
    return keras.Model(inputs, keras.layers.Dense(3)(pooled))


def nested_and_shared():
    inner = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(128, name="inner_dense")], name="inner"
    )
    shared = keras.layers.Dense(64, name="shared")
    inputs = keras.Input((64,))
    outputs = inner(shared(shared(inputs)))
    return keras.Model(inputs, outputs)


def poisoned(value, row):
    x = np.ones((8, 16), "float32")
    x[row, 3] = value
    return x


def poisoned_labels():
    y = np.zeros((8, 3), "float32")
    y[2, 1] = np.nan
    return y


@pytest.mark.parametrize(
    ("make_model", "kwargs", "error", "match"),
    [
        (lambda: keras.Sequential([keras.layers.Dense(8)]), {}, ValueError, "built"),
        (Subclassed, {}, TypeError, "subclassed"),
        ("built_subclassed", {}, TypeError, "subclassed"),
        (lambda: "model", {}, TypeError, "`model`"),
        (mlp, {"layers": ["nope"]}, ValueError, "'nope'"),
        (with_dropout, {"layers": ["drop"]}, ValueError, "not a Dense"),
        (mlp, {"layers": 3}, TypeError, "`layers`"),
        (mlp, {"layers": "nothing.*"}, ValueError, "matches no layer path"),
        (mlp, {"into": "lowrank"}, ValueError, "`into`"),
        (mlp, {"min_params": 10**9}, ValueError, "No Dense layer"),
        (mlp, {"epochs": -1}, ValueError, "`epochs`"),
        (mlp, {"temperature": 0}, ValueError, "`temperature`"),
        (mlp, {"x": np.zeros((0, 16), "float32")}, ValueError, "empty"),
        (mlp, {"x": np.zeros((8, 15), "float32")}, ValueError, r"\(15,\)"),
        (mlp, {"x": object()}, TypeError, "`x`"),
        # One NaN or Inf anywhere made every output of the student NaN.
        (mlp, {"x": poisoned(np.nan, 5)}, ValueError, r"NaN or infinite.*\[5\]"),
        (mlp, {"x": poisoned(np.inf, 7)}, ValueError, r"NaN or infinite.*\[7\]"),
        (mlp, {"y": poisoned_labels()}, ValueError, "`y` holds 1 NaN"),
        (mlp, {"y": np.zeros(3)}, ValueError, "`y`"),
        (mlp, {"y": np.zeros(8)}, ValueError, "label loss"),
        (nested_and_shared, {"layers": ["shared"]}, ValueError, "shared"),
        (with_attention, {"layers": ["attention_query"]}, ValueError, "EinsumDense"),
    ],
)
def test_bad_input(make_model, kwargs, error, match):
    if make_model == "built_subclassed":
        model = Subclassed()
        model(np.zeros((1, 4), "float32"))
    else:
        model = make_model()
    shape = (
        tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else (16,)
    )
    arguments = {"x": np.ones((8, *shape), "float32"), **FAST, **kwargs}
    with pytest.raises(error, match=match):
        compress(model, **arguments)


def test_shared_and_output_layers_are_skipped_by_default():
    """The shared Dense is refused; the nested model's last Dense gives the
    model's output, so `layers=None` leaves it, as it leaves any output."""
    model = nested_and_shared()
    x = np.ones((8, 64), "float32")
    with pytest.raises(ValueError, match="No Dense layer"):
        compress(model, x, **FAST)


def test_nested_models_and_custom_layers_compress_and_reload(rng, tmp_path):
    """Dense layers in a nested Sequential and as attributes of keras-hub's
    TransformerEncoder (its feed-forward block) are replaced and reload."""
    keras_hub = pytest.importorskip("keras_hub")
    inputs = keras.Input((6, 16))
    hidden = keras_hub.layers.TransformerEncoder(64, num_heads=2)(inputs)
    hidden = keras_hub.layers.TransformerEncoder(64, num_heads=2)(hidden)
    pooled = keras.layers.GlobalAveragePooling1D()(hidden)
    block = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(64, activation="relu")], name="block"
    )
    model = keras.Model(inputs, keras.layers.Dense(3)(block(pooled)))
    x = rng.standard_normal((32, 6, 16)).astype("float32")
    student = compress(model, x, min_params=1024, **FAST)
    replaced = [entry.name for entry in student.compression_report.layers]
    assert len(replaced) == 5  # 2 x 2 feed-forward Dense, the nested one
    found = keras_crosswise._surgery.find_layers(
        student, lambda layer: isinstance(layer, FastfoodDense)
    )
    assert len(found) == 5
    student.save(tmp_path / "student.keras")
    restored = keras.models.load_model(tmp_path / "student.keras")
    np.testing.assert_allclose(to_numpy(restored(x)), to_numpy(student(x)), atol=1e-5)


def test_compress_layer_bad_input(rng):
    with pytest.raises(TypeError, match="`dense_layer`"):
        compress_layer(CZDense(4))
    with pytest.raises(ValueError, match="built"):
        compress_layer(keras.layers.Dense(4))
    with pytest.raises(ValueError, match="`into`"):
        compress_layer(built_dense(4, 4, rng), into="svd")


def test_exported_at_top_level():
    assert keras_crosswise.compress is compress
    assert keras_crosswise.compress_layer is compress_layer


def test_rank_three_inputs(rng):
    """A Dense applied over the last axis of `(batch, steps, features)`."""
    inputs = keras.Input((5, 16))
    hidden = keras.layers.Dense(256, activation="relu", name="wide")(inputs)
    hidden = keras.layers.GlobalAveragePooling1D()(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    x = rng.standard_normal((64, 5, 16)).astype("float32")
    student = compress(model, x, init="projection", **FAST)
    assert isinstance(student.get_layer("wide"), FastfoodDense)
    assert student.predict(x, verbose=0).shape == (64, 3)
    assert 0 < student.compression_report.layers[0].fitted_error < 1.5


def test_compression_is_a_package_and_each_structure_owns_its_projection(rng):
    from keras_crosswise import compression
    from keras_crosswise.compression.structures import REPLACEMENTS

    assert compression.compress is compress and compression.compress_layer is (
        compress_layer
    )
    assert keras_crosswise.CompressionReport is compression.CompressionReport
    dense = built_dense(12, 16, rng, activation="relu")
    kernel = to_numpy(dense.kernel).astype("float64")
    for into in REPLACEMENTS:
        via = compress_layer(dense, into=into, seed=5)
        assert via.activation is dense.activation
        projected = to_numpy(via.to_dense_kernel()).astype("float64")
        # The projection fits: closer to the kernel than the structure's own
        # initialisation at the same seed (checked in float64, not against
        # the code it delegates to).
        fresh = REPLACEMENTS[into](16, seed=5) if into == "fastfood" else None
        fresh = fresh or REPLACEMENTS[into](16)
        fresh.build((None, 12))
        start = to_numpy(fresh.to_dense_kernel()).astype("float64")
        assert np.linalg.norm(kernel - projected) < np.linalg.norm(kernel - start)
        if into == "cz":  # a linear subspace: the residual is orthogonal to it
            residual = kernel - projected
            assert abs(np.sum(residual * projected)) < 1e-4 * np.sum(kernel**2)
    with pytest.raises(TypeError, match=r"`dense` must be a keras\.layers\.Dense"):
        CZDense.from_dense(CZDense(4))
    with pytest.raises(ValueError, match=r"`dense` .* must be built"):
        FastfoodDense.from_dense(keras.layers.Dense(4))


@pytest.fixture(scope="module")
def digits_logits_teacher():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    data = train_test_split(
        (x / 16).astype("float32"), y, test_size=0.25, random_state=0, stratify=y
    )
    keras.utils.set_random_seed(0)
    teacher = mlp(64, (256, 256))
    teacher.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    teacher.fit(data[0], data[2], batch_size=64, epochs=20, verbose=0)
    return teacher, data


@runs_on("jax", "it measures the recipe, which no backend changes")
@pytest.mark.parametrize("labels", [False, True])
def test_defaults_match_or_beat_the_naive_recipe_on_digits(
    digits_logits_teacher, labels
):
    """The naive recipe: a fresh student of the same structure on plain MSE to
    the teacher's logits (Adam 1e-3, batch 64), the same epochs."""
    teacher, (x_train, x_test, y_train, y_test) = digits_logits_teacher

    def accuracy(model):
        return np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test)

    naive = compress(
        teacher,
        x_train,
        init="fresh",
        layer_epochs=0,
        temperature=None,
        batch_size=64,
        optimizer=keras.optimizers.Adam(1e-3),
        epochs=10,
        seed=0,
        verbose=0,
    )
    ours = compress(
        teacher, x_train, y_train if labels else None, epochs=10, seed=0, verbose=0
    )
    assert accuracy(ours) >= accuracy(naive) - 0.005, (accuracy(ours), accuracy(naive))


def test_callbacks_validation_data_from_logits_and_the_report_beside(rng):
    """compress composes with Keras: the user's callbacks and validation data
    reach the distillation; `from_logits` is explicit; the report comes back
    beside the student and as plain values; unrun stages read None."""
    model = mlp(16, (256,))
    x = rng.standard_normal((96, 16)).astype("float32")
    seen = []
    logger = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(sorted(logs))
    )
    student, report = compress(
        model,
        x[:64],
        epochs=2,
        verbose=0,
        callbacks=[logger],
        validation_data=(x[64:],),
        from_logits=True,
        return_report=True,
    )
    assert report is student.compression_report
    assert len(seen) == 2 and any(key.startswith("val_") for key in seen[0]), seen
    layer = report.layers[0]
    assert layer.projected_error is None and layer.fitted_error is None
    # The final error, recomputed in NumPy float64: the replacement's
    # pre-activation outputs against the teacher Dense's, on the teacher's
    # inputs to it (the first `samples` rows of x: the first layer's).
    h = x[: report.samples].astype("float64")
    dense, replacement = model.get_layer(layer.name), student.get_layer(layer.name)
    kernel, bias = (np.asarray(w, "float64") for w in dense.get_weights())
    expected = h @ kernel + bias
    twin = type(replacement).from_config(
        {**replacement.get_config(), "activation": None}
    )
    twin.build((None, 16))
    twin.set_weights(replacement.get_weights())
    got = np.asarray(keras.ops.convert_to_numpy(twin(x[: report.samples])), "float64")
    assert layer.final_error == pytest.approx(
        np.linalg.norm(got - expected) / np.linalg.norm(expected), rel=1e-3
    )
    assert json.loads(json.dumps(report.to_dict()))["params_after"] == (
        student.count_params()
    )
    row = next(line.split() for line in str(report).splitlines() if layer.name in line)
    assert row[-3:] == ["-", "-", f"{layer.final_error:.3f}"]  # unrun stages: "-"
    with pytest.raises(TypeError, match="`from_logits` must be None, True or False"):
        compress(model, x, from_logits="yes", **FAST)


def test_from_logits_is_read_from_the_teacher_not_its_outputs():
    from keras_crosswise.compression.distillation import teacher_logits

    logits = mlp(4, (8,))
    assert teacher_logits(logits)
    softmax = mlp(4, (8,), activation="softmax")
    assert not teacher_logits(softmax)
    logits.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False))
    assert not teacher_logits(logits)  # the compiled loss says probabilities


def test_from_logits_false_on_a_logits_teacher_is_refused(rng):
    """Issue 39, item 9: it distilled silently worse (agreement 0.58 against
    0.78); a softmax teacher with from_logits=False still compresses."""
    x = rng.standard_normal((32, 16)).astype("float32")
    with pytest.raises(ValueError, match=r"`from_logits=False`.*range over \[-"):
        compress(mlp(), x, from_logits=False, **FAST)
    student = compress(mlp(activation="softmax"), x, from_logits=False, **FAST)
    assert student.count_params() < mlp().count_params()


def test_the_teacher_keeps_every_trainable_flag(rng):
    """Issue 39, item 10: compress set the teacher's layers trainable again,
    which reset per-variable flags (after adapt then merge every kernel was
    trainable again)."""
    from keras_crosswise import adapters

    teacher = mlp()
    adapters.adapt(teacher, kind="cz")
    adapters.merge(teacher)
    teacher.layers[0].bias.trainable = True  # a per-variable flag of its own
    before = [(w.path, w.trainable) for w in teacher.weights]
    layers_before = [layer.trainable for layer in teacher.layers]
    compress(teacher, rng.standard_normal((32, 16)).astype("float32"), **FAST)
    assert [(w.path, w.trainable) for w in teacher.weights] == before
    assert [layer.trainable for layer in teacher.layers] == layers_before
    assert not all(trainable for _, trainable in before)  # the test means it
