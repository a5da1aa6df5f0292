"""torch.compile against eager PyTorch: train step and inference of each layer.

The models of `fit_speed.py` (one layer, `width` in and out, Adam on a mean
squared error, batch 256), compiled by Keras with `jit_compile=True` (which
calls `torch.compile`) or left eager (`jit_compile=False`, Keras's torch
default), timed interleaved in one process: medians over repeats, the first
(compiling) call excluded and reported as the compile time.
Run: KERAS_BACKEND=torch python -m benchmarks.speed.torch_compile [--quick]
Writes docs/benchmarks/torch_compile.json.
"""

import pathlib
import time

import keras

from benchmarks.harness.results import command_line, markdown_table, write_json
from benchmarks.harness.timing import interleaved_measures
from benchmarks.speed.fit_speed import (
    LAYERS,
    compiled_model,
    regression_data,
    step_measures,
)

NAMES = ("CZDense", "FastfoodDense", "McKernel", "Dense")


def first_call_seconds(measure):
    start = time.perf_counter()
    measure()
    return time.perf_counter() - start


def time_width(width, batch, steps, repeats, names):
    x, y = regression_data(width, batch, steps)
    measures, compile_seconds = {}, {}
    for name in names:
        for jit in (False, True):
            model = compiled_model(LAYERS[name](width), width, jit_compile=jit)
            train, infer = step_measures(model, x, y, batch)
            mode = "compiled" if jit else "eager"
            measures[f"{name} {mode} train"] = train
            measures[f"{name} {mode} infer"] = infer
            compile_seconds[f"{name} {mode} train"] = first_call_seconds(train)
            compile_seconds[f"{name} {mode} infer"] = first_call_seconds(infer)
    seconds = interleaved_measures(measures, repeats, warmup=0)
    return {"seconds": seconds, "first_call_seconds": compile_seconds}


def report(results):
    rows = []
    for width, found in results["widths"].items():
        seconds = found["seconds"]
        for name in results["layers"]:
            row = [width, name]
            for task in ("train", "infer"):
                eager = seconds[f"{name} eager {task}"]
                compiled = seconds[f"{name} compiled {task}"]
                row += [f"{eager * 1e3:.2f}", f"{compiled * 1e3:.2f}"]
                row.append(f"{eager / compiled:.2f}")
            first = found["first_call_seconds"][f"{name} compiled train"]
            rows.append([*row, f"{first:.1f}"])
    header = ["width", "layer", "train eager ms", "train compiled ms", "speed-up"]
    header += ["infer eager ms", "infer compiled ms", "speed-up", "first fit s"]
    print(markdown_table(header, rows))


def arguments(parser):
    parser.add_argument("--widths", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)


def run(args):
    if keras.backend.backend() != "torch":
        raise SystemExit("run with KERAS_BACKEND=torch: torch.compile is PyTorch's")
    names = NAMES
    if args.quick:  # two layers: each compile takes seconds
        args.widths, args.batch, args.steps, args.repeats = [64], 16, 2, 1
        names = ("FastfoodDense", "Dense")
    results = {"batch": args.batch, "steps": args.steps, "layers": names}
    results["widths"] = {}
    for width in args.widths:
        print(f"width {width}", flush=True)
        results["widths"][width] = time_width(
            width, args.batch, args.steps, args.repeats, names
        )
    write_json(pathlib.Path(args.out) / "torch_compile.json", results)
    return results


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
