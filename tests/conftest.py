"""Test set-up: one backend per process, chosen by KERAS_BACKEND."""

import importlib.util
import zlib

# torch must be imported before TensorFlow when both end up in one process.
if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401

import keras
import numpy as np
import pytest


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
