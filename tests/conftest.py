"""Test set-up: one backend per process, chosen by KERAS_BACKEND.

Tests marked `backend_independent` check what no backend changes (configs,
packaging, the docs, scikit-learn's contract, pure NumPy references): the
test command runs them in one backend's process only (JAX's), by setting
CROSSWISE_BACKEND_INDEPENDENT=0 for the others. A plain `pytest` runs them.
"""

import importlib.util
import os
import pathlib
import zlib

# torch must be imported before TensorFlow when both end up in one process.
if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401

import keras
import numpy as np
import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CROSSWISE_BACKEND_INDEPENDENT", "1") != "0":
        return
    kept, skipped = [], []
    for item in items:
        independent = item.get_closest_marker("backend_independent")
        (skipped if independent else kept).append(item)
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = kept


@pytest.fixture
def rng(request):
    """A NumPy generator seeded from the test's id: its own data per test,
    the same on every run so that a failure can be reproduced."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(autouse=True)
def _reset_policy():
    """Leave the global dtype policy as each test found it."""
    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


ZOO_SCRIPT = pathlib.Path(__file__).resolve().parent / "model_zoo.py"


@pytest.fixture(scope="session")
def zoo_by_backend(tmp_path_factory):
    """The zoo saved under every backend: the folder CROSSWISE_ZOO names
    (the test command saves it there once per backend, for all three
    backends' runs), else this backend in-process and the others in
    subprocesses (a backend is fixed per process)."""
    from model_zoo import save_seeded, save_zoo
    from script_runner import BACKENDS, run_python

    prebuilt = os.environ.get("CROSSWISE_ZOO")
    if prebuilt:
        return pathlib.Path(prebuilt)
    root = tmp_path_factory.mktemp("zoo")
    for backend in BACKENDS:
        if backend == keras.backend.backend():
            save_zoo(root / backend)
            save_seeded(root / backend)
        else:
            result = run_python([str(ZOO_SCRIPT), "save", str(root / backend)], backend)
            assert result.returncode == 0, result.stderr[-3000:]
    return root
