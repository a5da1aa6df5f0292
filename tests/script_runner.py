"""Run a repository script (example or benchmark) the way a user does, as
`python PATH ARGS...` in a fresh process under this test's backend, and
return what it printed."""

import os
import pathlib
import subprocess
import sys

import keras

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_script(relative_path, *args, timeout=600):
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    result = subprocess.run(
        [sys.executable, str(ROOT / relative_path), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout
