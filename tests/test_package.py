"""The public API surface: what is exported works, and every argument of every
layer, initializer and regularizer survives `get_config` / `from_config`."""

import inspect
import pathlib
import re

import keras
import numpy as np
import pytest

import keras_crosswise
from keras_crosswise import initializers, layers, regularizers

from layer_checks import to_numpy

PYPROJECT = __import__("pathlib").Path(__file__).resolve().parents[1] / "pyproject.toml"

# A value other than the default for every constructor argument of the package.
NON_DEFAULT = {
    "units": 7,
    "activation": "tanh",
    "use_bias": False,
    "num_features": 5,
    "kernel": "matern",
    "sigma": 2.5,
    "matern_t": 3,
    "trainable_features": True,
    "trainable_sigma": True,
    "seed": 42,
    "gain": 1.5,
    "fan_in": 2.0,
    "distribution": "uniform",
    "degrees_of_freedom": 9,
    "t": 4,
    "dimension": 6,
    "l2": 0.25,
    "target": 0.5,
    "structure": "orthogonal",
    "output_dim": 6,
    "scale": 2.0,
    "trainable": True,
    "rank": 3,
}
# Where one class needs another non-default value than the table's.
NON_DEFAULT_FOR = {
    "RandomFourierFeatures": {
        "kernel_initializer": "laplacian",
        "structure": "fastfood",
    }
}


def non_default(name, cls=None):
    special = NON_DEFAULT_FOR.get(getattr(cls, "__name__", ""), {})
    if name in special:
        return special[name]
    if name.endswith("_initializer"):
        return keras.initializers.Constant(0.25)
    if name.endswith("_regularizer"):
        return keras.regularizers.L1(0.125)
    if name.endswith("_constraint"):
        return keras.constraints.NonNeg()
    return NON_DEFAULT[name]


def serializable_classes():
    for module in (layers, initializers, regularizers):
        for name in module.__all__:
            yield getattr(module, name)


@pytest.mark.backend_independent
@pytest.mark.parametrize("cls", list(serializable_classes()), ids=lambda c: c.__name__)
def test_every_constructor_argument_survives_the_config(cls):
    """A missing `get_config` entry would make a reloaded object silently
    differ: pass a non-default value for every argument and read it back."""
    names = [
        name
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and parameter.kind is not parameter.VAR_KEYWORD
    ]
    kwargs = {name: non_default(name, cls) for name in names}
    obj = cls(**kwargs)
    config = obj.get_config()
    restored = cls.from_config(config).get_config()
    assert restored == config
    for name, value in kwargs.items():
        assert name in config, f"{cls.__name__}.get_config() lacks {name!r}"
        if isinstance(value, (int, float, str, bool)):
            assert config[name] == value, name
        else:
            expected = keras.saving.serialize_keras_object(value)
            assert config[name] == expected, name


def test_top_level_exports_are_the_registered_layers(rng):
    for name in ("CZDense", "FastfoodDense", "McKernel", "RandomFourierFeatures"):
        cls = getattr(keras_crosswise, name)
        assert cls is getattr(layers, name)
        registered = keras.saving.get_registered_object(f"keras_crosswise>{name}")
        assert registered is cls
        layer = cls(6)
        out = layer(rng.standard_normal((2, 3, 4)).astype("float32"))
        assert tuple(out.shape) == tuple(layer.compute_output_shape((2, 3, 4)))
    for name in keras_crosswise.ops.__all__:
        assert callable(getattr(keras_crosswise.ops, name)), name


@pytest.mark.backend_independent
def test_version_is_written_once_and_matches_the_changelog():
    version = keras_crosswise.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    changelog = (PYPROJECT.parent / "CHANGELOG.md").read_text()
    assert f"## {version}" in changelog
    assert "version =" not in PYPROJECT.read_text().split("[project]")[1].split("[")[0]


def test_ops_compute_what_their_docstrings_say(rng):
    x = rng.standard_normal((3, 8)).astype("float32")
    padded = to_numpy(keras_crosswise.ops.pad_to_power_of_two(x[:, :5]))
    np.testing.assert_array_equal(padded[:, :5], x[:, :5])
    assert padded.shape == (3, 8) and not padded[:, 5:].any()
    np.testing.assert_allclose(
        to_numpy(keras_crosswise.ops.fwht(x)),
        x @ keras_crosswise.ops.hadamard_matrix(8),
        atol=1e-5,
    )


@pytest.mark.backend_independent
def test_pyproject_floors_are_the_versions_the_packaging_check_installs():
    """scripts/check_package.sh installs requirements/lowest.txt: pyproject's
    floors must be exactly those versions, so the floors are tested."""
    pins = dict(
        line.split("==")
        for line in (PYPROJECT.parent / "requirements" / "lowest.txt")
        .read_text()
        .splitlines()
        if "==" in line and not line.startswith("#")
    )
    floors = dict(re.findall(r'"([a-z-]+)>=([\d.]+)"', PYPROJECT.read_text()))
    for package in ("keras", "numpy", "jax", "scikit-learn"):
        assert pins[package].split(".")[: len(floors[package].split("."))] == (
            floors[package].split(".")
        ), package


@pytest.mark.backend_independent
def test_pytest_finds_the_harness_by_its_pythonpath_setting():
    # conftest.py inserted benchmarks/ into sys.path by hand; the benchmarks
    # are a package run from the root (`python -m benchmarks.speed.fit_speed`).
    import tomllib

    import benchmarks.harness

    root = pathlib.Path(__file__).resolve().parents[1]
    settings = tomllib.loads((root / "pyproject.toml").read_text())
    assert "." in settings["tool"]["pytest"]["ini_options"]["pythonpath"]
    assert (
        pathlib.Path(benchmarks.harness.__file__).parent
        == root / "benchmarks" / "harness"
    )
    # Importing conftest.py leaves sys.path as it was.
    import subprocess
    import sys

    check = (
        "import runpy, sys; before = list(sys.path); "
        f"runpy.run_path({str(root / 'tests' / 'conftest.py')!r}); "
        "assert sys.path == before, set(sys.path) ^ set(before)"
    )
    subprocess.run([sys.executable, "-c", check], check=True, cwd=root)
