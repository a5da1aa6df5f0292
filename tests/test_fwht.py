"""The fast Walsh-Hadamard transform against scipy.linalg.hadamard in float64."""

import functools
import json
import pathlib
import time

import keras
import numpy as np
import pytest
import scipy.linalg

from keras_crosswise import ops as czops
from keras_crosswise.ops.hadamard import (
    METHODS,
    auto_method,
    device_kind,
    kronecker_factors,
    resolve_method,
)

from layer_checks import JIT, to_numpy


@functools.lru_cache(maxsize=4)
def scipy_hadamard(n):
    return scipy.linalg.hadamard(n, dtype=np.int8)


def reference(x):
    """x @ H in float64, H from SciPy, in column chunks to bound memory."""
    hadamard = scipy_hadamard(x.shape[-1])
    chunks = [
        x @ hadamard[:, start : start + 2048].astype("float64")
        for start in range(0, x.shape[-1], 2048)
    ]
    return np.concatenate(chunks, axis=-1)


@pytest.mark.parametrize("log_n", range(15))
def test_matches_scipy_hadamard(log_n, rng):
    n = 2**log_n
    leading = [(3,), (2, 2), (1, 2, 1)][log_n % 3]
    x = rng.standard_normal((*leading, n))
    result = to_numpy(czops.fwht(x.astype("float32"))).astype("float64")
    expected = reference(x)
    # float32 sums of n terms of size ~1: error grows like sqrt(n) * eps * |x|.
    np.testing.assert_allclose(result, expected, atol=2e-6 * n**0.5 * 8, rtol=1e-5)


@pytest.mark.parametrize("n", [8, 256, 512, 4096])
@pytest.mark.parametrize("method", ["matmul", "kronecker", "butterfly"])
def test_every_method_agrees(n, method, rng):
    x = rng.standard_normal((4, n))
    result = to_numpy(czops.fwht(x.astype("float32"), method=method))
    np.testing.assert_allclose(result, reference(x), atol=1e-3, rtol=1e-5)


@pytest.mark.parametrize("max_factor", [2, 4, 16, 64, 128])
def test_every_kronecker_factor_size_agrees(max_factor, rng):
    x = rng.standard_normal((3, 4096))
    result = czops.fwht(x.astype("float32"), method="kronecker", max_factor=max_factor)
    np.testing.assert_allclose(to_numpy(result), reference(x), atol=1e-3, rtol=1e-5)


MEASURED = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def measured_tables():
    """(backend, device, {n: {method key: seconds}}) at batch 256, from the
    re-measured CPU files and the GPU files of benchmarks/speed/fwht_methods.py."""
    for path in sorted(MEASURED.glob("fwht_methods_*.json")):
        if "_cpu" in path.name and "remeasured" not in path.name:
            continue  # superseded by the re-measured CPU table
        results = json.loads(path.read_text())
        by_size = {
            int(key.split("x")[1]): times
            for key, times in results["seconds"].items()
            if key.startswith("256x")
        }
        yield results["backend"], results["device"], by_size


def rule_key(n, backend, device):
    method, max_factor = auto_method(n, backend, device)
    if method != "kronecker":
        return method
    return "kronecker " + "x".join(map(str, kronecker_factors(n, max_factor)))


@pytest.mark.backend_independent
def test_auto_rule_is_near_the_fastest_measured_method():
    """The rule of `method="auto"` against the measured tables: on the CPU
    within 1.2x of the fastest method at every n >= 256 (the goal), on the
    GPUs measured within 1.25x (1.21x at n = 32768 on JAX)."""
    tables = list(measured_tables())
    assert {(backend, device) for backend, device, _ in tables} >= {
        ("jax", "cpu"),
        ("tensorflow", "cpu"),
        ("torch", "cpu"),
    }
    for backend, device, by_size in tables:
        for n, times in by_size.items():
            times = {k: t for k, t in times.items() if k not in ("x * c", "native")}
            ratio = times[rule_key(n, backend, device)] / min(times.values())
            if n >= 256:
                bound = 1.2 if device == "cpu" else 1.25
                assert ratio <= bound, (backend, device, n, ratio)


def test_auto_resolves_by_the_rule_on_this_backend():
    backend = keras.backend.backend()
    for n in (2, 64, 128, 256, 1024, 2048, 2**15):
        assert resolve_method(n) == auto_method(n, backend, device_kind())
        method, factor = resolve_method(n, "kronecker")
        assert method == "kronecker" and factor in (16, 32, 64, 128)
    assert resolve_method(4096, "kronecker", 8) == ("kronecker", 8)
    assert resolve_method(4096, "butterfly") == ("butterfly", None)
    assert all(auto_method(n, backend, "cpu")[0] in METHODS for n in (8, 4096))


def test_normalized_transform_is_orthonormal_involution(rng):
    x = rng.standard_normal((5, 64)).astype("float32")
    once = czops.fwht(x, normalize=True)
    np.testing.assert_allclose(
        np.linalg.norm(to_numpy(once), axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5
    )
    np.testing.assert_allclose(to_numpy(czops.fwht(once, normalize=True)), x, atol=1e-5)


@pytest.mark.parametrize("n", [64, 2048])
def test_self_adjoint_gradient_under_fit(n, rng):
    """One SGD step on a weight v with loss sum(fwht(v) * t) moves v by -lr H t."""

    class Probe(keras.layers.Layer):
        def build(self, input_shape):
            self.v = self.add_weight(shape=(n,), initializer="random_normal")

        def call(self, inputs):
            return inputs * 0.0 + czops.fwht(self.v)[None, :]

    probe = Probe()
    model = keras.Sequential([keras.Input((n,)), probe])
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=lambda target, output: keras.ops.sum(target * output, axis=-1),
        jit_compile=JIT,
    )
    target = rng.standard_normal((1, n)).astype("float32")
    v0 = to_numpy(probe.v).astype("float64")
    model.fit(np.zeros((1, n), "float32"), target, batch_size=1, verbose=0)
    expected = v0 - 0.01 * reference(target.astype("float64"))[0]
    np.testing.assert_allclose(to_numpy(probe.v), expected, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_computes_in_float32(dtype, rng):
    x = rng.standard_normal((4, 1024)).astype("float32")
    low = keras.ops.cast(x, dtype)
    result = czops.fwht(low)
    assert keras.backend.standardize_dtype(result.dtype) == dtype
    exact = reference(to_numpy(keras.ops.cast(low, "float32")).astype("float64"))
    # Only the final rounding to the low precision dtype: relative 2^-8 (bf16).
    scale = np.abs(exact).max()
    error = np.abs(to_numpy(keras.ops.cast(result, "float32")) - exact).max()
    assert error <= scale * 2**-7


def test_symbolic_input():
    out = czops.fwht(keras.Input((3, 16)))
    assert tuple(out.shape) == (None, 3, 16)


def test_kronecker_factors():
    for bits in range(21):
        factors = kronecker_factors(2**bits)
        assert np.prod(factors) == 2**bits and max(factors) <= 128


def test_pad_to_power_of_two(rng):
    x = rng.standard_normal((2, 3, 5)).astype("float32")
    padded = to_numpy(czops.pad_to_power_of_two(x))
    assert padded.shape == (2, 3, 8)
    np.testing.assert_array_equal(padded[..., :5], x)
    np.testing.assert_array_equal(padded[..., 5:], 0.0)
    assert czops.next_power_of_two(1) == 1 and czops.next_power_of_two(1025) == 2048


def test_errors(rng):
    with pytest.raises(ValueError, match="power-of-two"):
        czops.fwht(rng.standard_normal((2, 6)))
    with pytest.raises(ValueError, match="method"):
        czops.fwht(rng.standard_normal((2, 8)), method="fft")
    with pytest.raises(ValueError, match="power of two"):
        czops.hadamard_matrix(6)
    # A backend float32 tensor too: eager PyTorch's native path skipped
    # the check and accepted max_factor=3 (issue 39, item 14).
    tensor = keras.ops.convert_to_tensor(rng.standard_normal((2, 8)), "float32")
    for bad in (3, 1, 6.0, "16"):
        for x in (rng.standard_normal((2, 8)), tensor):
            with pytest.raises(ValueError, match="`max_factor`"):
                czops.fwht(x, max_factor=bad)
        with pytest.raises(ValueError, match="`max_factor`"):
            czops.fwht(tensor, method="native", max_factor=bad)


@pytest.mark.parametrize("method", ["auto", "matmul", "kronecker", "butterfly"])
def test_float64_stays_float64(method, rng):
    """Issue 39, item 17: on PyTorch's keras.ops path, `keras.ops.matmul`
    computed two float64 tensors in float32 (1.3e-4 off at n = 1024)."""
    x = keras.ops.convert_to_tensor(rng.standard_normal((3, 1024)), "float64")
    if keras.backend.standardize_dtype(x.dtype) != "float64":
        pytest.skip("this backend runs without float64 (JAX without x64)")
    result = czops.fwht(x, method=method)
    assert keras.backend.standardize_dtype(result.dtype) == "float64"
    expected = reference(to_numpy(x))
    assert np.abs(to_numpy(result) - expected).max() < 1e-10


@pytest.mark.parametrize("n", [2.5, 0, -5, True, "4"])
def test_next_power_of_two_refuses_what_is_not_a_positive_integer(n):
    # It mapped 2.5 to 2, 0 to 2 and -5 to 8.
    with pytest.raises(ValueError, match="`n` must be a positive integer"):
        czops.next_power_of_two(n)


def test_forming_a_huge_hadamard_matrix_is_refused():
    start = time.perf_counter()
    with pytest.raises(ValueError, match="over the limit"):
        czops.hadamard_matrix(2**15)  # 4 GiB
    with pytest.raises(ValueError, match="method='matmul'"):
        czops.fwht(np.ones((1, 2**16), "float32"), method="matmul")  # 16 GiB
    assert time.perf_counter() - start < 5
