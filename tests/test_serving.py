"""Servers: the zoo saved under each backend served by an environment with one
backend only, and by Keras's inference-only numpy and openvino backends
(tests/serve_zoo.py; docs/serving.md). Each runs once, in its own process."""

import pathlib
import re
import subprocess
import sys

import keras
import pytest

from model_zoo import LAYERS
from script_runner import BACKENDS, ROOT, run_python

SERVE = ROOT / "tests" / "serve_zoo.py"
# What each backend installs: the top-level names of its site-packages entries.
BACKEND_PACKAGES = {
    "tensorflow": {"tensorflow", "tensorflow_cpu", "tf_keras", "tensorflow_io"},
    "jax": {"jax", "jaxlib", "jax_plugins"},
    "torch": {"torch", "functorch", "torchgen"},
}


def environment_with_one_backend(backend, folder):
    """A venv whose site-packages links every package of this one but the
    other backends': to Python and Keras they are not installed there."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True)
    hidden = set().union(*(BACKEND_PACKAGES[b] for b in BACKENDS if b != backend))
    (target,) = pathlib.Path(folder).glob("lib/python*/site-packages")
    for entry in pathlib.Path(keras.__file__).parents[1].iterdir():
        if re.split(r"[-.]", entry.name)[0].lower() not in hidden:
            (target / entry.name).symlink_to(entry)
    return pathlib.Path(folder) / "bin" / "python"


def serve(zoo, backend, python=sys.executable):
    """serve_zoo.py's verdict per saving backend on `compile=True`."""
    result = run_python([SERVE, zoo], backend, python)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    served = re.findall(r"^(\w+)/\w+: ", result.stdout, re.M)
    assert len(served) == len(BACKENDS) * len(LAYERS), result.stdout
    found = re.findall(r"^compile=True, saved under (\w+): (.*)$", result.stdout, re.M)
    return dict(found)


@pytest.mark.backend_independent
@pytest.mark.parametrize("server", BACKENDS)
def test_a_server_with_one_backend_serves_models_saved_under_any(
    server, zoo_by_backend, tmp_path
):
    """`load_model(path, compile=False)` serves them all; `compile=True` needs
    the backend whose optimizer the file records (torch has its own classes)."""
    python = environment_with_one_backend(server, tmp_path / "server")
    outcome = serve(zoo_by_backend, server, python)
    assert set(outcome) == set(BACKENDS), outcome
    for saved_under, verdict in outcome.items():
        if saved_under == "torch" and server != "torch":  # Keras's behaviour
            assert verdict.startswith("fails") and "torch" in verdict, verdict
        else:
            assert verdict == "loads", verdict


@pytest.mark.backend_independent
@pytest.mark.parametrize("backend", ["numpy", "openvino"])
def test_inference_only_backends_serve_every_layer_silently(backend, zoo_by_backend):
    """Keras's numpy and openvino backends: the saved outputs within 1e-5, and
    no warning (serve_zoo.py turns UserWarnings into errors)."""
    serve(zoo_by_backend, backend)
