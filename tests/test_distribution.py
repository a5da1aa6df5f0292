"""Our layers under Keras's and the frameworks' multi-device training.

Each check runs a script of tests/distributed/ in a fresh process (device counts
are fixed when a framework starts) during the pass of its own backend.
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

SCRIPTS = pathlib.Path(__file__).resolve().parent / "distributed"
BACKEND = keras.backend.backend()
TOLERANCE = 1e-5  # float32 sums reduced in another order across devices


def run_script(name, backend, tmp_path, **env):
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / name), str(out)],
        env={**os.environ, "KERAS_BACKEND": backend, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(out.read_text())


def assert_losses_close(reference, other):
    assert len(reference) == len(other)
    for a, b in zip(reference, other, strict=True):
        assert abs(a - b) <= TOLERANCE * max(1.0, abs(a)), (reference, other)


@pytest.mark.skipif(BACKEND != "jax", reason="runs in the JAX pass")
def test_jax_data_and_model_parallel_on_8_devices(tmp_path):
    report = run_script(
        "jax_distribution.py",
        "jax",
        tmp_path,
        XLA_FLAGS="--xla_force_host_platform_device_count=8",
    )
    assert report["devices"] == 8
    assert_losses_close(report["single_loss"], report["data_parallel_loss"])
    assert_losses_close(report["single_loss"], report["model_parallel_loss"])
    assert report["data_parallel_max_weight_diff"] <= TOLERANCE
    assert report["model_parallel_max_weight_diff"] <= TOLERANCE
    shardings = {
        path.split("/", 1)[1]: spec for path, spec in report["shardings"].items()
    }
    assert shardings["cz/kernel"] == "P('model',)"
    assert shardings["fastfood/signs"] == "P(None, 'model')"
    assert shardings["fastfood/scale"] == "P('model',)"
    assert report["reload_max_diff"] <= TOLERANCE


@pytest.mark.skipif(BACKEND != "tensorflow", reason="runs in the TensorFlow pass")
def test_tf_mirrored_strategy_on_2_logical_cpus(tmp_path):
    report = run_script("tf_mirrored.py", "tensorflow", tmp_path)
    assert report["replicas"] == 2
    assert_losses_close(report["single_loss"], report["mirrored_loss"])
    assert report["max_weight_diff"] <= TOLERANCE


@pytest.mark.skipif(BACKEND != "torch", reason="runs in the PyTorch pass")
def test_torch_ddp_gloo_on_2_processes(tmp_path):
    report = run_script("torch_ddp.py", "torch", tmp_path)
    assert report["world_size"] == 2
    mean_rank_loss = sum(report["rank_losses"]) / 2
    assert abs(mean_rank_loss - report["single_loss"]) <= TOLERANCE
    assert report["max_weight_diff"] <= TOLERANCE
