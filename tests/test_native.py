"""The native Walsh-Hadamard kernel (keras_crosswise.native): its values
against an independent NumPy float64 transform, its gradients, its place in
jit, vmap and torch.compile, when `method="auto"` takes it, and the fallback
where it is off or cannot be built."""

import os
import pathlib

import keras
import numpy as np
import pytest

from keras_crosswise import native
from keras_crosswise import ops as czops
from keras_crosswise._validation import MAX_FEATURES
from keras_crosswise.layers import FastfoodDense

from layer_checks import to_numpy
from script_runner import run_python, runs_on

BACKEND = keras.backend.backend()
NATIVE_BACKENDS = ("jax", "tensorflow", "torch")
on_native_backends = pytest.mark.skipif(
    BACKEND not in NATIVE_BACKENDS, reason="the native kernel serves this backend"
)
SWITCHED_OFF = not native.enabled()


def numpy_fwht(x):
    """x @ H_n over the last axis in float64, by NumPy butterflies (no H)."""
    x = np.array(x, dtype="float64")
    n = x.shape[-1]
    leading = x.shape[:-1]
    h = 1
    while h < n:
        pairs = x.reshape(*leading, n // (2 * h), 2, h)
        x = np.stack(
            [pairs[..., 0, :] + pairs[..., 1, :], pairs[..., 0, :] - pairs[..., 1, :]],
            axis=-2,
        ).reshape(*leading, n)
        h *= 2
    return x


def float64_on():
    return (
        keras.backend.standardize_dtype(
            keras.ops.convert_to_tensor(np.zeros(1, "float64")).dtype
        )
        == "float64"
    )


def test_numpy_reference_is_the_hadamard_product(rng):
    import scipy.linalg

    x = rng.standard_normal((3, 64))
    np.testing.assert_allclose(
        numpy_fwht(x), x @ scipy.linalg.hadamard(64), rtol=1e-12, atol=1e-12
    )


@on_native_backends
def test_status_reports_the_kernel_built_and_in_use():
    found = native.status()
    if SWITCHED_OFF:
        assert not found["available"]
        assert "KERAS_CROSSWISE_NATIVE" in found["reason"]
        return
    # The test command builds it (a compiler is on every machine it runs on).
    assert found["available"], found["reason"]
    assert found["isa"] in native.ISA_LEVELS
    assert os.path.exists(found["library"])


def test_status_on_another_backend_says_why():
    found = native.status("numpy")
    assert not found["available"]
    assert "keras.ops" in found["reason"]


needs_native = pytest.mark.skipif(
    SWITCHED_OFF or BACKEND not in NATIVE_BACKENDS,
    reason="the native kernel is off, or not on this backend",
)


@needs_native
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("normalize", [False, True])
def test_values_from_2_to_2_to_the_16(dtype, normalize, rng):
    for log_n in range(1, 17):
        n = 2**log_n
        leading = [(3,), (2, 3), (1,), (2, 1, 2)][log_n % 4]
        x = rng.standard_normal((*leading, n)).astype(dtype)
        result = to_numpy(czops.fwht(x, normalize=normalize, method="native"))
        expected = numpy_fwht(x) / (np.sqrt(n) if normalize else 1.0)
        computed_in = "float64" if dtype == "float64" and float64_on() else "float32"
        assert result.dtype == computed_in
        # Relative to the largest output: a float32 sum of n terms.
        tolerance = 1e-6 if computed_in == "float32" else 1e-13
        error = np.abs(result - expected).max() / np.abs(expected).max()
        assert error < tolerance, (n, error)


@needs_native
def test_values_at_the_size_cap(rng):
    x = rng.standard_normal((1, MAX_FEATURES)).astype("float32")
    result = to_numpy(czops.fwht(x, method="native"))
    expected = numpy_fwht(x)
    assert np.abs(result - expected).max() / np.abs(expected).max() < 1e-6


@needs_native
def test_auto_equals_the_keras_ops_path(rng):
    for n in (2, 64, 1024, 8192):
        x = rng.standard_normal((5, n)).astype("float32")
        fast = to_numpy(czops.fwht(x))
        portable = to_numpy(czops.fwht(x, method="kronecker"))
        assert np.abs(fast - portable).max() / np.abs(portable).max() < 1e-6


@needs_native
def test_gradient_is_the_transform_of_the_gradient(rng):
    n = 256
    x = rng.standard_normal((4, n)).astype("float32")
    weights = rng.standard_normal((4, n)).astype("float32")
    expected = numpy_fwht(weights) / np.sqrt(n)
    if BACKEND == "jax":
        import jax

        def loss(v):
            return (czops.fwht(v, normalize=True, method="native") * weights).sum()

        gradient = np.asarray(jax.jit(jax.grad(loss))(x))
        # Forward mode and its transpose: the primitive is linear.
        _, tangent = jax.jvp(
            lambda v: czops.fwht(v, normalize=True, method="native"), (x,), (weights,)
        )
        np.testing.assert_allclose(np.asarray(tangent), expected, rtol=1e-5, atol=1e-5)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(x)

        @tf.function  # the registered gradient, in a graph and eagerly
        def graph_gradient():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(czops.fwht(v, True, method="native") * weights)
            return tape.gradient(loss, v)

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(czops.fwht(v, normalize=True) * weights)
        gradient = tape.gradient(loss, v).numpy()
        np.testing.assert_allclose(
            graph_gradient().numpy(), expected, rtol=1e-5, atol=1e-5
        )
    else:
        import torch

        v = torch.tensor(x, requires_grad=True)
        (
            czops.fwht(v, normalize=True, method="native") * torch.tensor(weights)
        ).sum().backward()
        gradient = v.grad.numpy()
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-5)


@needs_native
@pytest.mark.skipif(BACKEND != "jax", reason="jax.vmap and jaxprs")
def test_jax_vmap_jit_and_what_auto_traces(rng):
    import jax

    x = rng.standard_normal((3, 4, 32)).astype("float32")
    for axis in (0, 1):
        mapped = jax.jit(jax.vmap(lambda v: czops.fwht(v, method="native"), axis, axis))
        np.testing.assert_allclose(
            np.asarray(mapped(x)), numpy_fwht(x), rtol=1e-5, atol=1e-5
        )
    assert "keras_crosswise_fwht" in str(jax.make_jaxpr(czops.fwht)(x))
    # A symbolic batch size is an export: the keras.ops path.
    (batch,) = jax.export.symbolic_shape("b")
    spec = jax.ShapeDtypeStruct((batch, 32), "float32")
    assert "keras_crosswise_fwht" not in str(jax.make_jaxpr(czops.fwht)(spec))


@needs_native
@pytest.mark.skipif(BACKEND != "jax", reason="jax.export")
def test_jax_export_lowers_the_primitive_portably(rng):
    import jax

    x = rng.standard_normal((4, 128)).astype("float32")
    exported = jax.export.export(jax.jit(czops.fwht))(x)  # refuses custom calls
    assert "custom_call" not in exported.mlir_module()
    restored = jax.export.deserialize(exported.serialize())
    np.testing.assert_allclose(
        np.asarray(restored.call(x)), numpy_fwht(x), rtol=1e-5, atol=1e-4
    )


@needs_native
@pytest.mark.skipif(BACKEND != "torch", reason="torch.library and torch.compile")
def test_torch_op_passes_opcheck_and_compiles_in_one_graph(rng):
    import torch
    from torch.library import opcheck

    from keras_crosswise.native import _torch

    for dtype in (torch.float32, torch.float64):
        sample = torch.randn(3, 2, 16, dtype=dtype, requires_grad=True)
        results = opcheck(_torch.op(), (sample, 0.25))
        assert set(results.values()) == {"SUCCESS"}, results
    graphs = []

    def record(graph, example_inputs):
        graphs.append(str(graph.graph))
        return graph.forward

    x = torch.tensor(rng.standard_normal((4, 64)).astype("float32"))
    compiled = torch.compile(
        lambda v: czops.fwht(v) * 2, backend=record, fullgraph=True
    )
    np.testing.assert_allclose(
        compiled(x).numpy(), 2 * numpy_fwht(x.numpy()), rtol=1e-5, atol=1e-4
    )
    assert any("keras_crosswise.fwht" in graph for graph in graphs), graphs

    class Transform(torch.nn.Module):
        def forward(self, v):
            return czops.fwht(v)

    # torch.export keeps the keras.ops path: its program has no custom op.
    program = torch.export.export(Transform(), (x,))
    assert "keras_crosswise" not in str(program.graph)
    np.testing.assert_allclose(
        program.module()(x).numpy(), numpy_fwht(x.numpy()), rtol=1e-5, atol=1e-4
    )


@needs_native
@pytest.mark.skipif(BACKEND != "torch", reason="torch.export")
def test_torch_export_after_native_calls_twice(rng):
    """The native kernel serves the eager calls, so the `keras.ops` path's
    constants are first made while torch.export traces under fake tensors
    (non-strict, as Keras's SavedModel export runs it). They must be made
    real: a second export (ONNX, then SavedModel) reuses them."""
    import torch

    x = rng.standard_normal((4, 40)).astype("float32")
    model = keras.Sequential([keras.Input((40,)), FastfoodDense(24, seed=5)])
    eager = to_numpy(model(x))
    for _ in range(2):
        program = torch.export.export(model, (torch.tensor(x),), strict=False)
        assert "keras_crosswise" not in str(program.graph)
        exported = program.module()(torch.tensor(x)).detach().numpy()
        assert np.abs(exported - eager).max() / np.abs(eager).max() < 1e-6


def tensorflow_graph_ops(function, *signature):
    """The op types of `function`'s graph for `signature`, nested functions'
    (Keras's step functions call one another) included."""
    graph = function.get_concrete_function(*signature).graph.as_graph_def()
    nodes = list(graph.node)
    for library_function in graph.library.function:
        nodes.extend(library_function.node_def)
    return {node.op for node in nodes}


tensorflow_native = pytest.mark.skipif(
    SWITCHED_OFF or BACKEND != "tensorflow", reason="TensorFlow's native op"
)


@tensorflow_native
def test_tensorflow_op_where_nothing_is_saved_keras_ops_elsewhere(rng):
    """Eager calls and an explicit `method="native"` run the op; a
    `tf.function` of the user's (it may be saved) and XLA, which compiles
    no custom op, take the `keras.ops` path; all agree with NumPy."""
    import tensorflow as tf

    from keras_crosswise.native import _tensorflow

    x = rng.standard_normal((4, 64)).astype("float32")
    expected = numpy_fwht(x)
    spec = tf.TensorSpec((None, 64), tf.float32)
    routes = {
        "auto": (tf.function(lambda v: czops.fwht(v)), False),
        "native": (tf.function(lambda v: czops.fwht(v, method="native")), True),
        "xla": (tf.function(lambda v: czops.fwht(v), jit_compile=True), False),
    }
    for name, (function, uses_op) in routes.items():
        assert (_tensorflow.OP in tensorflow_graph_ops(function, spec)) == uses_op
        np.testing.assert_allclose(
            function(x).numpy(), expected, rtol=1e-5, atol=1e-4, err_msg=name
        )
    # Eager calls take the op: test_disabled_takes_the_keras_ops_path_in_its_block.
    assert isinstance(czops.fwht(x), tf.Tensor)
    with pytest.raises(ValueError, match=r"`method='native'`.*XLA"):
        tf.function(lambda v: czops.fwht(v, method="native"), jit_compile=True)(x)


@tensorflow_native
def test_tensorflow_fit_runs_the_op_and_exports_without_it(rng, tmp_path, monkeypatch):
    """Keras's `fit` and `predict` graphs (no XLA on a CPU by default) run
    the op; `jit_compile=True` does not; and the SavedModels of
    `model.export`, `tf.saved_model.save` and a concrete function of the
    user's (saved as traced, not traced again as `save` does), written
    after `fit`, load in a process that never loads the op and give
    `predict`'s numbers."""
    import tensorflow as tf

    from keras_crosswise.native import _tensorflow

    traced = []
    native_fwht = _tensorflow.fwht

    def spy(v, factor):  # called while a graph traces (or eagerly)
        traced.append(tf.executing_eagerly())
        return native_fwht(v, factor)

    monkeypatch.setattr(_tensorflow, "fwht", spy)
    x = rng.standard_normal((32, 40)).astype("float32")
    y = rng.standard_normal((32, 24)).astype("float32")
    model = keras.Sequential([keras.Input((40,)), FastfoodDense(24, seed=3)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert traced and not any(traced)  # in fit's graph
    traced.clear()
    predicted = model.predict(x, verbose=0)
    assert traced and not any(traced)  # in predict's graph
    with native.disabled():
        portable = to_numpy(model(x))
    assert np.abs(predicted - portable).max() / np.abs(portable).max() < 1e-6
    traced.clear()
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not traced  # XLA: keras.ops
    predicted = model.predict(x, verbose=0)
    model.export(tmp_path / "exported", verbose=False)
    tf.saved_model.save(model, str(tmp_path / "saved"))
    holder = tf.Module()
    holder.model = model
    serve = tf.function(lambda v: model(v, training=False)).get_concrete_function(
        tf.TensorSpec((None, 40), tf.float32)
    )
    tf.saved_model.save(holder, str(tmp_path / "concrete"), signatures=serve)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "x = np.load(sys.argv[1] + '/x.npy')\n"
        "for name in ('exported', 'saved', 'concrete'):\n"
        "    loaded = tf.saved_model.load(sys.argv[1] + '/' + name)\n"
        "    call = loaded.serve if name == 'exported' else loaded.signatures"
        "['serving_default']\n"
        "    out = call(tf.constant(x))\n"
        "    out = out if name == 'exported' else list(out.values())[0]\n"
        "    np.save(sys.argv[1] + f'/{name}.npy', np.asarray(out))\n"
        "print('keras_crosswise' in sys.modules)\n"
    )
    result = run_python(["-c", script, tmp_path], "tensorflow")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("False")
    for name in ("exported", "saved", "concrete"):
        loaded = np.load(tmp_path / f"{name}.npy")
        assert np.abs(loaded - predicted).max() / np.abs(predicted).max() < 1e-5


@needs_native
@pytest.mark.parametrize("gradient", [False, True])
def test_fastfood_op_against_numpy_with_blocks(gradient, rng):
    """`ops.fastfood`: on PyTorch with no gradient the native kernel does
    permutation, diagonal and transform in one pass (`fastfood_step`)."""
    fastfood_module = __import__("keras_crosswise.ops.fastfood", fromlist=["_"])
    for n in (2, 8, 64, 1024):
        blocks = 3
        x = rng.standard_normal((4, 2, n)).astype("float32")
        signs = rng.standard_normal((blocks, n)).astype("float32")
        gaussian = rng.standard_normal((blocks, n)).astype("float32")
        permutation = np.stack([rng.permutation(n) for _ in range(blocks)])
        hadamard = numpy_fwht(np.eye(n))
        expected = np.concatenate(
            [
                (((x * signs[b]) @ hadamard)[..., permutation[b]] * gaussian[b])
                @ hadamard
                for b in range(blocks)
            ],
            axis=-1,
        )
        tensors = [keras.ops.convert_to_tensor(a) for a in (x, signs, gaussian)]
        if BACKEND == "torch":
            for tensor in tensors:
                tensor.requires_grad_(gradient)
            fused = fastfood_module._fused_step("auto", *tensors)
            assert (fused is None) == gradient
        result = czops.fastfood(
            tensors[0], tensors[1], permutation.astype("int32"), tensors[2]
        )
        result = to_numpy(result.detach() if BACKEND == "torch" else result)
        error = np.abs(result - expected).max() / np.abs(expected).max()
        assert error < 1e-6, (n, error)


@needs_native
def test_fastfood_dense_trains_and_matches_the_portable_path(rng):
    x = rng.standard_normal((32, 40)).astype("float32")
    y = rng.standard_normal((32, 24)).astype("float32")
    layer = FastfoodDense(24, seed=3)
    model = keras.Sequential([keras.Input((40,)), layer])
    native_out = to_numpy(layer.fastfood_projection(x))
    from keras_crosswise.ops.fastfood import fastfood

    padded = np.zeros((32, 64), "float32")
    padded[:, :40] = x
    portable = to_numpy(
        fastfood(
            padded,
            layer.signs,
            layer.permutation,
            layer.gaussian,
            method="kronecker",
        )
    )[:, :24] * to_numpy(layer.row_scale)
    assert np.abs(native_out - portable).max() / np.abs(portable).max() < 1e-6
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_native_method_refused_where_it_cannot_run():
    if BACKEND in NATIVE_BACKENDS and not SWITCHED_OFF:
        pytest.skip("it runs here")
    with pytest.raises(ValueError, match="`method='native'`"):
        czops.fwht(np.ones((2, 8), "float32"), method="native")


FALLBACK = """
import keras, numpy as np
from keras_crosswise import native, ops
found = native.status()
assert not found["available"], found
print("REASON", found["reason"])
x = np.random.default_rng(0).standard_normal((3, 64)).astype("float32")
print("SUM", float(np.abs(keras.ops.convert_to_numpy(ops.fwht(x))).sum()))
"""


@on_native_backends
@pytest.mark.parametrize(
    "environment, reason",
    [
        ({"KERAS_CROSSWISE_NATIVE": "0"}, "KERAS_CROSSWISE_NATIVE"),
        ({"CC": "/nonexistent/cc", "CXX": "/nonexistent/c++"}, "compiler"),
    ],
    ids=["switched-off", "no-compiler"],
)
def test_falls_back_to_keras_ops(environment, reason, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_CROSSWISE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_CROSSWISE_NATIVE", "1")  # also in the native-off pass
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = run_python(["-c", FALLBACK], BACKEND)
    assert result.returncode == 0, result.stderr[-3000:]
    assert reason in result.stdout
    assert "SUM" in result.stdout
    assert not (tmp_path / "cache").exists() or not any(
        (tmp_path / "cache").glob("*.so")
    )


def test_a_bad_isa_name_is_refused(tmp_path, monkeypatch):
    if BACKEND not in NATIVE_BACKENDS:
        pytest.skip("this backend loads no kernel")
    monkeypatch.setenv("KERAS_CROSSWISE_NATIVE", "1")
    monkeypatch.setenv("KERAS_CROSSWISE_NATIVE_ISA", "sse9")
    monkeypatch.setenv("KERAS_CROSSWISE_CACHE", str(tmp_path))
    result = run_python(
        ["-c", "from keras_crosswise import native; print(native.status())"], BACKEND
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "KERAS_CROSSWISE_NATIVE_ISA must be one of" in result.stdout


@on_native_backends
@pytest.mark.parametrize("isa", ["portable", "avx2", "avx512"])
def test_every_instruction_set_this_cpu_runs(isa, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_CROSSWISE_NATIVE", "1")  # also in the native-off pass
    monkeypatch.setenv("KERAS_CROSSWISE_NATIVE_ISA", isa)
    script = (
        "import numpy as np, keras\n"
        "from keras_crosswise import native, ops\n"
        "print('ISA', native.status()['isa'])\n"
        "rng = np.random.default_rng(1)\n"
        "for k in range(1, 15):\n"
        "    x = rng.standard_normal((3, 2**k))\n"
        "    for dtype in ('float32', 'float64'):\n"
        "        y = ops.fwht(x.astype(dtype), method='native')\n"
        "        y = keras.ops.convert_to_numpy(y)\n"
        "        np.save(f'{sys.argv[1]}/{dtype}-{k}.npy', y)\n"
        "        np.save(f'{sys.argv[1]}/x-{k}.npy', x)\n"
    )
    result = run_python(["-c", "import sys\n" + script, tmp_path], BACKEND)
    assert result.returncode == 0, result.stderr[-3000:]
    used = result.stdout.split("ISA ")[1].split()[0]
    if used != isa:  # this CPU runs less: the widest it runs instead
        assert native.ISA_LEVELS.index(used) < native.ISA_LEVELS.index(isa)
        pytest.skip(f"this CPU runs {used}, not {isa}")
    for k in range(1, 15):
        x = np.load(tmp_path / f"x-{k}.npy")
        expected = numpy_fwht(x)
        for dtype in ("float32", "float64"):
            y = np.load(tmp_path / f"{dtype}-{k}.npy")
            tolerance = 1e-6 if y.dtype == np.float32 else 1e-13
            assert np.abs(y - expected).max() / np.abs(expected).max() < tolerance


HOSTILE_TABLES = """
import sys, keras, numpy as np
from keras_crosswise import ops
from keras_crosswise.layers import FastfoodDense
rng = np.random.default_rng(0)
n = 64
x = rng.standard_normal((5, n)).astype("float32")
signs = rng.standard_normal((3, n)).astype("float32")
perm = np.stack([rng.permutation(n) for _ in range(3)]).astype("int32")
tensors = lambda *a: [keras.ops.convert_to_tensor(t) for t in a]

def outcome(thunk):
    try:
        thunk()
        return "returned"
    except ValueError as error:
        return "ValueError " + str(error).replace(chr(10), " ")
    except Exception as error:
        return type(error).__name__

cases = {
    # fewer permutation rows than sign rows (a segfault before)
    "fewer_rows": lambda: ops.fastfood(*tensors(x, signs, perm[:1], signs)),
    "mismatched_gaussian": lambda: ops.fastfood(*tensors(x, signs, perm, signs[:2])),
    "narrow_x": lambda: ops.fastfood(*tensors(x[:, :32], signs, perm, signs)),
}
layer = FastfoodDense(n, seed=1)
model = keras.Sequential([keras.Input((n,)), layer])
for name, value in (("out_of_range", 10**6), ("off_by_one", n), ("negative", -1)):
    bad = keras.ops.convert_to_numpy(layer.permutation).copy()
    bad[0, 3] = value
    layer.permutation.assign(bad)
    cases[name] = lambda: model.predict(x, verbose=0)
if keras.backend.backend() == "torch":
    import torch
    from keras_crosswise.native import _torch
    if _torch.op() is not None:
        t = torch.tensor(x)
        cases["run_short_permutation"] = lambda: _torch.run(
            t, 1.0, torch.tensor(signs), torch.tensor(perm[:1]))
        cases["run_wide_diagonal"] = lambda: _torch.run(
            t, 1.0, torch.tensor(signs.reshape(6, 32)))
        cases["run_int64_wrap"] = lambda: _torch.run(
            t, 1.0, torch.tensor(signs[:1]),
            torch.tensor(perm[:1].astype("int64") + 2**32))
for name, thunk in cases.items():
    print(name, "->", outcome(thunk), flush=True)
"""


@pytest.mark.parametrize("native_on", ["1", "0"])
def test_hostile_tables_raise_and_never_crash(native_on, monkeypatch):
    """Issue 39, item 1: the fused step read out of bounds (a segfault with a
    short permutation, neighbouring memory with an index of n) and returned
    numbers for mismatched tables. In a subprocess: a crash must fail the
    test, not end the pass."""
    if native_on == "0" and BACKEND not in NATIVE_BACKENDS:
        pytest.skip("this backend runs the keras.ops path either way")
    monkeypatch.setenv("KERAS_CROSSWISE_NATIVE", native_on)
    result = run_python(["-c", HOSTILE_TABLES], BACKEND)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    outcomes = dict(line.split(" -> ") for line in result.stdout.splitlines())
    for case in ("fewer_rows", "mismatched_gaussian"):
        assert "must have one shape (blocks, n)" in outcomes[case], outcomes
    assert "must have n = 64 features" in outcomes["narrow_x"], outcomes
    for case in ("out_of_range", "off_by_one", "negative"):
        # XLA's gathers (JAX, and TensorFlow's jit-compiled predict) clamp or
        # fill instead of raising: no crash and no read of other memory is
        # what holds there.
        if BACKEND == "torch" and native_on == "1":
            # The fused pass's own check (`native.fastfood_for`).
            assert "permutation of 0..63" in outcomes[case], outcomes
        elif BACKEND == "torch":
            assert outcomes[case] != "returned", outcomes
    for case in ("run_short_permutation", "run_wide_diagonal", "run_int64_wrap"):
        if case in outcomes:
            assert outcomes[case].startswith("ValueError keras_crosswise::fwht")


CONCURRENT_FIRST_USE = """
import threading, keras, numpy as np
from keras_crosswise import ops
barrier, errors, results = threading.Barrier(8), [], {}
x = np.random.default_rng(0).standard_normal((4, 256)).astype("float32")

def first_call(i):
    barrier.wait()
    try:
        results[i] = keras.ops.convert_to_numpy(ops.fwht(x))
    except Exception as error:
        errors.append(repr(error))

threads = [threading.Thread(target=first_call, args=(i,)) for i in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("ERRORS", errors)
same = all(np.array_equal(results[0], r) for r in results.values())
print("SAME", same, len(results))
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.linear_model import RidgeClassifier
from keras_crosswise.sklearn import McKernelSampler
import joblib
rng = np.random.default_rng(1)
features, labels = rng.standard_normal((60, 16)), rng.integers(0, 2, 60)
search = GridSearchCV(
    make_pipeline(McKernelSampler(n_components=64, random_state=0), RidgeClassifier()),
    {"mckernelsampler__sigma": [0.5, 1.0, 2.0, 4.0]}, cv=2, n_jobs=4,
)
with joblib.parallel_backend("threading"):
    search.fit(features, labels)
print("GRID", search.best_params_)
"""


@on_native_backends
def test_first_use_from_many_threads_at_once(tmp_path, monkeypatch):
    """Issue 39, item 3: 7 of 8 threads whose first call was concurrent
    raised "Library object has been destroyed" (the op defined twice), and a
    threaded GridSearchCV over McKernelSampler aborted the process. A fresh
    process and a fresh cache: the build, the load and the registration all
    happen under the threads."""
    monkeypatch.setenv("KERAS_CROSSWISE_CACHE", str(tmp_path))
    result = run_python(["-c", CONCURRENT_FIRST_USE], BACKEND)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "ERRORS []" in result.stdout, result.stdout
    assert "SAME True 8" in result.stdout, result.stdout
    assert "GRID {'mckernelsampler__sigma'" in result.stdout, result.stdout


STATUS = "from keras_crosswise import native; s = native.status(); print('OK', s)"


@runs_on("jax", "one cache mechanism (_build, _intact, _Loaded) serves both")
def test_a_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    """Issue 39, item 7: a truncated library killed every later process with
    SIGBUS; a valid ELF without the kernel's symbols raised AttributeError;
    empty or garbage files fell back to the slow path for ever. Six fresh
    processes and five builds: run in JAX's pass only."""
    monkeypatch.setenv("KERAS_CROSSWISE_CACHE", str(tmp_path))
    monkeypatch.setenv("KERAS_CROSSWISE_NATIVE", "1")  # also in the native-off pass

    def status(available=True):
        result = run_python(["-c", STATUS], BACKEND)
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        assert f"'available': {available}" in result.stdout, result.stdout
        return result.stdout

    status()
    (library,) = tmp_path.glob("*.so")
    whole = library.read_bytes()
    foreign = next(
        p
        for p in ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib64/libm.so.6")
        if os.path.exists(p)
    )
    for name, content in (
        ("truncated", whole[: len(whole) // 3]),
        ("empty", b""),
        ("garbage", b"\x7fELF" + b"\0" * 200),
    ):
        library.write_bytes(content)
        status()
        assert library.read_bytes() == whole, name  # rebuilt, not trusted
    # Intact by its checksum, yet another library: no kernel symbols.
    import hashlib

    library.write_bytes(pathlib.Path(foreign).read_bytes())
    checksum = library.with_name(library.name + ".sha256")
    checksum.write_text(hashlib.sha256(library.read_bytes()).hexdigest())
    assert "was not a keras-crosswise kernel" in status(available=False)
    assert not library.exists()  # removed: this process fell back
    status()  # the next one builds it again
    assert library.read_bytes() == whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@needs_native
def test_disabled_takes_the_keras_ops_path_in_its_block(rng, monkeypatch):
    """`native.disabled()`: the public switch the speed benchmark uses
    instead of patching three private functions (issue 38, item 4)."""
    if BACKEND == "torch":
        from keras_crosswise.native import _torch as binding

        name = "run"
    elif BACKEND == "tensorflow":
        from keras_crosswise.native import _tensorflow as binding

        name = "fwht"
    else:
        from keras_crosswise.native import _jax as binding

        name = "fwht"

    def refuse(*args, **kwargs):
        raise AssertionError("the native kernel ran")

    x = keras.ops.convert_to_tensor(rng.standard_normal((3, 64)), "float32")
    expected = numpy_fwht(to_numpy(x))
    monkeypatch.setattr(binding, name, refuse)
    with native.disabled():
        assert not native.in_use()
        np.testing.assert_allclose(to_numpy(czops.fwht(x)), expected, atol=1e-4)
    assert native.in_use()
    with pytest.raises(AssertionError, match="the native kernel ran"):
        czops.fwht(x)
