"""Run a repository script (example or benchmark) and return what it printed:
`run_script` the way a user does, in a fresh process under this test's
backend, from the repository's root: an example as `python PATH ARGS...`, a
benchmark (a module of the `benchmarks` package) as `python -m MODULE ARGS...`;
`run_script_in_process` as `__main__` in this process (the same code and
arguments, without a new interpreter and backend import); `runs_on(backend)`
marks a test that runs in one backend's pass."""

import contextlib
import io
import os
import pathlib
import runpy
import subprocess
import sys

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKEND = keras.backend.backend()
BACKENDS = ("tensorflow", "jax", "torch")


def _module(relative_path):
    """`relative_path`'s module name where it lies in a package, else None."""
    path = pathlib.PurePosixPath(relative_path)
    if not (ROOT / path.parent / "__init__.py").exists():
        return None
    return ".".join(path.with_suffix("").parts)


def run_script(relative_path, *args, timeout=600):
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    module = _module(relative_path)
    command = ["-m", module] if module else [str(ROOT / relative_path)]
    result = subprocess.run(
        [sys.executable, *command, *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def run_python(args, backend, python=sys.executable, **kwargs):
    """`python ARGS...` in a fresh process under `backend`; the result, unchecked."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run(
        [str(python), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        **kwargs,
    )


def run_script_in_process(relative_path, *args):
    path = ROOT / relative_path
    module = _module(relative_path)
    argv, sys.argv = sys.argv, [str(path), *map(str, args)]
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            if module:
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = argv
    return printed.getvalue()


def runs_on(backend, why="once is enough: it tests no backend-specific code"):
    """Run the test in `backend`'s pass only."""
    return pytest.mark.skipif(backend != BACKEND, reason=f"runs on {backend}: {why}")
