"""The native kernel's fused Fastfood pass (`native.fastfood_for`): the whole
`S H G Pi H B x + bias` in one call each way on JAX and PyTorch. Values and
gradients against a NumPy float64 reference and central finite
differences, the `keras.ops` path's gradients, `jit`/`vmap`/`jax.export`,
`opcheck`/`torch.compile`/`torch.export`, what its backward keeps, and
FastfoodDense on it."""

import keras
import numpy as np
import pytest

from keras_crosswise import _backends, native
from keras_crosswise.layers import FastfoodDense

from layer_checks import to_numpy

BACKEND = keras.backend.backend()
pytestmark = pytest.mark.skipif(
    BACKEND not in ("jax", "torch") or not native.enabled(),
    reason="the fused pass serves JAX and PyTorch, with the kernel on",
)
# (d, n, blocks, outputs): padded inputs, one or several blocks, a trimmed
# last block, n below a vector (2) and past the L1 block (8192).
SIZES = [(3, 4, 1, 4), (10, 16, 3, 40), (2, 2, 2, 3), (64, 64, 2, 100)]
SIZES += [(200, 256, 1, 256), (1000, 1024, 2, 1500), (5000, 8192, 1, 7000)]


def hadamard(n):
    matrix = np.ones((1, 1))
    while matrix.shape[0] < n:
        matrix = np.block([[matrix, matrix], [matrix, -matrix]])
    return matrix


def numpy_fastfood(x, signs, permutation, gaussian, scale, bias):
    """`scale * (H G Pi H B x)[..., :outputs] + bias` in float64, block by
    block with the explicit H."""
    blocks, n = signs.shape
    leading, d = x.shape[:-1], x.shape[-1]
    rows = np.zeros((int(np.prod(leading)), n))
    rows[:, :d] = x.reshape(-1, d)
    h = hadamard(n)
    mixed = np.concatenate(
        [
            (((rows * signs[b]) @ h)[:, permutation[b]] * gaussian[b]) @ h
            for b in range(blocks)
        ],
        axis=1,
    )
    out = mixed[:, : scale.shape[0]] * scale + bias
    return out.reshape(*leading, scale.shape[0])


def draw(rng, d, n, blocks, outputs, leading=(5,), dtype="float32"):
    """`(x, signs, permutation, gaussian, scale, bias)` as NumPy arrays."""
    return (
        rng.standard_normal((*leading, d)).astype(dtype),
        rng.standard_normal((blocks, n)).astype(dtype),
        np.stack([rng.permutation(n) for _ in range(blocks)]).astype("int32"),
        rng.standard_normal((blocks, n)).astype(dtype),
        rng.standard_normal(outputs).astype(dtype),
        rng.standard_normal(outputs).astype(dtype),
    )


def in_float64(arrays):
    return [a.astype("float64") if a.dtype.kind == "f" else a for a in arrays]


def fused():
    found = native.fastfood_for(keras.ops.zeros((1, 1)))
    assert found is not None, native.status()["reason"]
    return found


def call(arrays):
    return to_numpy(fused()(*[keras.ops.convert_to_tensor(a) for a in arrays]))


def gradients(function, arrays, upstream):
    """The gradients of `sum(function(*arrays) * upstream)` against every
    float array, through the backend's autodiff (`None` at the permutation)."""
    floats = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    if BACKEND == "jax":
        import jax

        def loss(*values):
            return (function(*values) * upstream).sum()

        found = jax.grad(loss, argnums=floats)(*arrays)
        return [np.asarray(g) for g in found]
    import torch

    tensors = [torch.tensor(a) for a in arrays]
    for i in floats:
        tensors[i].requires_grad_(True)
    (function(*tensors) * torch.tensor(upstream)).sum().backward()
    return [tensors[i].grad.numpy() for i in floats]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", SIZES, ids=str)
def test_values_against_numpy(sizes, dtype, rng):
    arrays = draw(rng, *sizes, leading=(3, 2), dtype=dtype)
    expected = numpy_fastfood(*in_float64(arrays))
    with _backends.float64_scope("float64"):
        result = call(arrays)
    assert result.dtype == dtype and result.shape == expected.shape
    error = np.abs(result - expected).max() / np.abs(expected).max()
    assert error < (1e-6 if dtype == "float32" else 1e-13), error


@pytest.mark.parametrize("sizes", SIZES[:5], ids=str)
def test_gradients_against_finite_differences_in_float64(sizes, rng):
    arrays = draw(rng, *sizes, dtype="float64")
    upstream = rng.standard_normal((5, sizes[3]))
    with _backends.float64_scope("float64"):
        found = gradients(fused(), arrays, upstream)

    def loss(values):
        return (numpy_fastfood(*values) * upstream).sum()

    floats = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    for i, gradient in zip(floats, found, strict=True):
        # The product is linear in each argument: a central difference along
        # a random direction is exact up to rounding.
        direction = rng.standard_normal(arrays[i].shape)
        step = 1e-3
        plus, minus = list(arrays), list(arrays)
        plus[i] = arrays[i] + step * direction
        minus[i] = arrays[i] - step * direction
        expected = (loss(plus) - loss(minus)) / (2 * step)
        assert np.isclose((gradient * direction).sum(), expected, rtol=1e-9), i


def test_gradients_equal_the_keras_ops_path(rng):
    from keras_crosswise.ops.fastfood import fastfood

    d, n, blocks, outputs = 40, 64, 3, 150
    arrays = draw(rng, d, n, blocks, outputs, leading=(8,))
    upstream = rng.standard_normal((8, outputs)).astype("float32")

    def portable(x, signs, permutation, gaussian, scale, bias):
        padded = keras.ops.pad(x, [(0, 0), (0, n - d)])
        mixed = fastfood(padded, signs, permutation, gaussian, method="kronecker")
        return mixed[:, :outputs] * scale + bias

    with native.disabled():
        expected = gradients(portable, arrays, upstream)
    for found, wanted in zip(
        gradients(fused(), arrays, upstream), expected, strict=True
    ):
        assert np.abs(found - wanted).max() <= 1e-5 * np.abs(wanted).max()


def test_bad_permutation_raises_a_clear_error(rng):
    """Every index is checked before the kernel reads: a repeated index (a
    row that is not a permutation) is refused by the backward, an index
    outside 0..n-1 by both ways."""
    arrays = list(draw(rng, 8, 8, 1, 8))
    fused()  # the kernel loaded
    if BACKEND == "torch":
        from keras_crosswise.native import _torch

        arrays = [keras.ops.convert_to_tensor(a) for a in arrays]
        outside = arrays[2].clone()
        outside[0, 3] = 8
        with pytest.raises(ValueError, match=r"permutation of 0\.\.7"):
            _torch.fastfood_run(*arrays[:2], outside, *arrays[3:])
        repeated = arrays[2].clone()
        repeated[0, 3] = repeated[0, 4]
        with pytest.raises(ValueError, match=r"permutation of 0\.\.7"):
            _torch.fastfood_backward_run(
                arrays[0],
                arrays[0][:, :8] * 0 + 1,
                *arrays[1:2],
                repeated,
                *arrays[3:5],
            )
        with pytest.raises(ValueError, match=r"`bias` must have shape \(8,\)"):
            _torch.fastfood_run(*arrays[:5], arrays[5][:3])
        wide = keras.ops.concatenate([arrays[4], arrays[4]])
        with pytest.raises(ValueError, match=r"`scale`'s length \(16\) in 1..8"):
            _torch.fastfood_run(*arrays[:4], wide, wide)
    else:
        arrays[2][0, 3] = 8
        with pytest.raises(Exception, match=r"permutation of 0\.\.n-1"):
            call(arrays)


@pytest.mark.skipif(BACKEND != "jax", reason="jaxprs, vmap and jax.export")
def test_jax_jit_vmap_and_export(rng):
    import jax

    arrays = draw(rng, 20, 32, 2, 50, leading=(4, 3))
    expected = numpy_fastfood(*arrays)
    function = fused()
    jitted = jax.jit(function)
    assert "keras_crosswise_fastfood" in str(jax.make_jaxpr(function)(*arrays))
    np.testing.assert_allclose(
        np.asarray(jitted(*arrays)), expected, rtol=1e-5, atol=1e-4
    )
    # The backward is the kernel's too.
    loss = jax.grad(lambda x: function(x, *arrays[1:]).sum())
    assert "keras_crosswise_fastfood_backward" in str(jax.make_jaxpr(loss)(arrays[0]))
    # vmap over the inputs' leading axis, and over the tables (per-example
    # tables: the portable product, vmapped).
    mapped = jax.vmap(function, in_axes=(1, None, None, None, None, None), out_axes=1)
    np.testing.assert_allclose(
        np.asarray(mapped(*arrays)), expected, rtol=1e-5, atol=1e-4
    )
    scales = np.stack([arrays[4], 2 * arrays[4]])
    per_table = jax.vmap(function, in_axes=(None, None, None, None, 0, None))(
        *arrays[:4], scales, arrays[5]
    )
    np.testing.assert_allclose(
        np.asarray(per_table[1]),
        numpy_fastfood(*arrays[:4], scales[1], arrays[5]),
        rtol=1e-5,
        atol=1e-4,
    )
    # An export lowers both primitives to the portable product: no custom call.
    exported = jax.export.export(jax.jit(lambda *a: jax.value_and_grad(
        lambda x: function(x, *a[1:]).sum())(a[0])))(*arrays)  # fmt: skip
    assert "custom_call" not in exported.mlir_module()
    value, gradient = jax.export.deserialize(exported.serialize()).call(*arrays)
    np.testing.assert_allclose(float(value), expected.sum(), rtol=1e-4)
    np.testing.assert_allclose(
        np.asarray(gradient), np.asarray(loss(arrays[0])), rtol=1e-4, atol=1e-3
    )


@pytest.mark.skipif(BACKEND != "torch", reason="torch.library")
def test_torch_opcheck_compile_and_export(rng):
    import torch
    from torch.library import opcheck

    from keras_crosswise.native import _torch

    for dtype in ("float32", "float64"):
        sample = [torch.tensor(a) for a in draw(rng, 10, 16, 2, 20, dtype=dtype)]
        for i in (0, 1, 3, 4, 5):
            sample[i].requires_grad_(True)
        results = opcheck(_torch._fastfood_op, tuple(sample))
        assert set(results.values()) == {"SUCCESS"}, results
    graphs = []

    def record(graph, example_inputs):
        graphs.append(str(graph.graph))
        return graph.forward

    arrays = draw(rng, 40, 64, 2, 100, leading=(6,))
    tensors = [torch.tensor(a) for a in arrays]
    tensors[0].requires_grad_(True)
    function = fused()
    compiled = torch.compile(function, backend=record, fullgraph=True)
    out = compiled(*tensors)
    np.testing.assert_allclose(
        out.detach().numpy(), numpy_fastfood(*arrays), rtol=1e-5, atol=1e-4
    )
    assert any("keras_crosswise.fastfood" in graph for graph in graphs), graphs
    out.sum().backward()
    eager = gradients(function, arrays, np.ones((6, 100), "float32"))[0]
    np.testing.assert_allclose(tensors[0].grad.numpy(), eager, rtol=1e-5, atol=1e-4)

    x = arrays[0][:, :40]
    model = keras.Sequential([keras.Input((40,)), FastfoodDense(100, seed=2)])
    eager_out = to_numpy(model(x))
    program = torch.export.export(model, (torch.tensor(x),), strict=False)
    assert "keras_crosswise" not in str(program.graph)
    exported = program.module()(torch.tensor(x)).detach().numpy()
    assert np.abs(exported - eager_out).max() <= 1e-5 * np.abs(eager_out).max()


@pytest.mark.skipif(BACKEND != "torch", reason="what eager autograd keeps")
def test_torch_backward_keeps_the_inputs_alone(rng):
    """The fused op keeps its inputs for the backward, and nothing of the
    output's size: the `keras.ops` path keeps several (batch, n) activations."""
    import torch

    d, n, blocks, outputs = 512, 512, 2, 1024
    tensors = [torch.tensor(a) for a in draw(rng, d, n, blocks, outputs, (64,))]
    for i in (1, 3, 4, 5):
        tensors[i].requires_grad_(True)
    saved = []

    def pack(tensor):
        saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fused()(*tensors)
    assert sum(saved) == 64 * d + 3 * blocks * n + outputs, saved


@pytest.mark.parametrize("use_bias", [True, False])
def test_fastfood_dense_fit_matches_the_portable_path(use_bias, rng):
    """One training step of FastfoodDense on the fused pass and on the
    `keras.ops` path (`native.disabled()`): the same outputs and weights."""
    x = rng.standard_normal((16, 300)).astype("float32")
    y = rng.standard_normal((16, 700)).astype("float32")
    models = []
    for portable in (False, True):
        keras.utils.set_random_seed(0)
        layer = FastfoodDense(700, use_bias=use_bias, bias_initializer="random_normal")
        model = keras.Sequential([keras.Input((300,)), layer])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        if portable:
            with native.disabled():
                model.fit(x, y, epochs=2, batch_size=8, verbose=0)
                outputs = to_numpy(model(x))
        else:
            model.fit(x, y, epochs=2, batch_size=8, verbose=0)
            outputs = to_numpy(model(x))
        models.append((model, outputs))
    (fused_model, fused_out), (portable_model, portable_out) = models
    assert np.abs(fused_out - portable_out).max() <= 1e-5 * np.abs(portable_out).max()
    for a, b in zip(fused_model.weights, portable_model.weights, strict=True):
        a, b = to_numpy(a), to_numpy(b)
        assert np.abs(a - b).max() <= 1e-5 * max(np.abs(b).max(), 1), a.shape
