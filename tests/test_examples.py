"""The examples run end to end (fast mode) on every backend."""

import os
import pathlib
import subprocess
import sys

import keras

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
