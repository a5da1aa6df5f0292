"""Run a repository script (example or benchmark) in this process, as
`python PATH ARGS...` would, and return what it printed."""

import contextlib
import io
import pathlib
import runpy
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_script(relative_path, *args):
    path = ROOT / relative_path
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [str(path), *map(str, args)]
    sys.path.insert(0, str(path.parent))
    sys.path.insert(1, str(ROOT / "examples"))
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
    return output.getvalue()
