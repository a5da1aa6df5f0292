"""The examples run end to end (fast mode) on every backend."""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

from script_runner import run_script

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_example(name, *args):
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_digits_comparison_fast_mode():
    output = run_example("digits_dense_vs_czdense.py", "--epochs", "1", "--seeds", "1")
    assert f"backend: {keras.backend.backend()}" in output
    rows = [line for line in output.splitlines() if "±" in line]
    assert len(rows) == 6, output


def test_save_and_serve_fast_mode():
    output = run_example("save_and_serve.py", "--epochs", "1")
    assert "reloaded under" in output and "onnxruntime: predicted class" in output
    difference = float(
        output.split("reloaded under")[1].split("|difference|")[1].split()[0]
    )
    assert difference < 1e-4, output  # logits of size ~10, float32


def test_quickstart_fast_mode():
    output = run_script("examples/quickstart.py", "--fast")
    assert "Dense                     301,066 params" in output
    difference = float(output.split("max |difference| of the logits")[1])
    assert difference < 1e-5, output


def test_mnist1d_comparison_fast_mode():
    output = run_script("examples/mnist1d_comparison.py", "--fast")
    assert "MNIST-1D: 4000 train, 1000 test" in output
    rows = [line for line in output.splitlines() if "±" in line]
    assert len(rows) == 7, output
    assert "MLP 100-100 (reference)                  15210" in output


def test_kernel_regression_fast_mode():
    output = run_script("examples/kernel_regression.py", "--fast")
    scores = [
        float(line.split("R^2")[1].split(",")[0])
        for line in output.splitlines()
        if "test R^2" in line
    ]
    assert len(scores) == 3, output
    assert scores[0] > 0.5 and scores[1] > 0.5  # exact and McKernel ridge fits


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="it starts one process per backend itself; once is enough",
)
def test_switching_backends_fast_mode():
    output = run_example("switching_backends.py", "--fast")
    for backend in ("tensorflow", "jax", "torch"):
        assert f"{backend:10s} test accuracy" in output, output
