"""What every benchmark script shares around its measurements: its command
line (`command_line`: the options `--out` and `--quick`, then `run(args)` and
`report(results)`), the machine beside each result, the JSON written
atomically, and the markdown tables."""

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import keras

from keras_crosswise._files import write_atomically

ROOT = pathlib.Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "docs" / "benchmarks"


def machine_description():
    return {
        "date": time.strftime("%Y-%m-%d"),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def write_json(path, results):
    """`results`, with the machine described, to `path` (atomically)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**machine_description(), **results}, indent=1) + "\n"
    write_atomically(path, lambda file: file.write(text.encode()))
    return path


def rerun_command(spec, *args):
    """The command that runs the benchmark module `spec` (its `__spec__`) again
    in a fresh process, as `python -m benchmarks.GROUP.NAME ARGS...`; run it
    with `cwd=ROOT`, where `benchmarks` imports."""
    return [sys.executable, "-m", spec.name, *map(str, args)]


def add_output_arguments(parser):
    """`--out` (the results folder) and `--quick` (tiny sizes, for CI)."""
    parser.add_argument("--out", default=str(RESULTS_DIR), help="results folder")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, to check the script runs"
    )


def command_line(doc, arguments, run, report, outputs=True):
    """A benchmark script's `main`: its options (`arguments(parser)`, then
    `--out` and `--quick` where it writes `outputs`), `results = run(args)`,
    which measures and writes the JSON, then `report(results)`, which prints
    the tables from the results alone. Returns the results."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    arguments(parser)
    if outputs:
        add_output_arguments(parser)
    args = parser.parse_args()
    results = run(args)
    report(results)
    return results


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join("---" for _ in header) + " |")
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
