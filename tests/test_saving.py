"""Save anywhere, load anywhere: all 9 backend pairs, golden files, no-import errors."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from model_zoo import GOLDEN_DIR, LAYERS, TOLERANCE, build_model, save_zoo

from layer_checks import to_numpy

BACKENDS = ("tensorflow", "jax", "torch")
CURRENT = keras.backend.backend()
ZOO_SCRIPT = pathlib.Path(__file__).resolve().parent / "model_zoo.py"


def run_python(args, backend, **kwargs):
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        **kwargs,
    )


@pytest.fixture(scope="session")
def zoo_by_backend(tmp_path_factory):
    """The zoo saved under every backend: this one in-process, others in
    subprocesses (a backend is fixed per process)."""
    root = tmp_path_factory.mktemp("zoo")
    for backend in BACKENDS:
        if backend == CURRENT:
            save_zoo(root / backend)
        else:
            result = run_python([str(ZOO_SCRIPT), "save", str(root / backend)], backend)
            assert result.returncode == 0, result.stderr[-3000:]
    return root


@pytest.mark.parametrize("saved_under", BACKENDS)
@pytest.mark.parametrize("name", list(LAYERS))
def test_load_model_saved_under_any_backend(name, saved_under, zoo_by_backend):
    directory = zoo_by_backend / saved_under
    model = keras.models.load_model(directory / f"{name}.keras")
    stored = np.load(directory / f"{name}.npz")
    difference = np.abs(to_numpy(model(stored["inputs"])) - stored["outputs"]).max()
    assert difference <= TOLERANCE[name], (
        f"{name} saved under {saved_under}, loaded under {CURRENT}: {difference}"
    )


@pytest.mark.parametrize("name", list(LAYERS))
def test_golden_files_still_load(name):
    """Files written by an earlier version (tests/model_zoo.py golden): renaming or
    reordering a layer's weights breaks them, and this test."""
    model = keras.models.load_model(GOLDEN_DIR / f"{name}.keras")
    stored = np.load(GOLDEN_DIR / f"{name}.npz")
    difference = np.abs(to_numpy(model(stored["inputs"])) - stored["outputs"]).max()
    assert difference <= TOLERANCE[name], difference


def test_golden_files_cover_every_layer():
    assert sorted(p.stem for p in GOLDEN_DIR.glob("*.keras")) == sorted(LAYERS)


def test_loading_without_import_names_the_class(tmp_path):
    model = build_model("CZDense")
    model.save(tmp_path / "model.keras")
    script = "import keras, sys\nkeras.models.load_model(sys.argv[1])\n"
    result = run_python(["-c", script, str(tmp_path / "model.keras")], CURRENT)
    assert result.returncode != 0
    assert "keras_crosswise>CZDense" in result.stderr, result.stderr[-2000:]
    with_objects = (
        "import keras, sys\n"
        "from keras_crosswise.layers import CZDense\n"
        "keras.models.load_model(sys.argv[1], custom_objects={'CZDense': CZDense})\n"
    )
    result = run_python(["-c", with_objects, str(tmp_path / "model.keras")], CURRENT)
    assert result.returncode == 0, result.stderr[-2000:]
