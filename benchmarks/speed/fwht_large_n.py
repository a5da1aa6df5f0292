"""Where the native `fwht`'s time goes at large n on PyTorch (issue 40, item 4).

At n >= 32768, `fwht` on eager PyTorch measured 6-7x the memory floor. This
times, on a `(batch, n)` float32 CPU tensor, interleaved, median of repeats:
the floor `x * c` allocating its output and writing into a reused one
(`out=`); the kernel through `fwht` (a new output each call), into a reused
buffer, and in place; and a new tensor of the same size allocated alone
(`torch.empty`) and written once (`torch.empty(...).fill_(0)`). Run it a
second time with `MALLOC_MMAP_THRESHOLD_=4294967296` to see glibc keep large
blocks instead of mapping fresh pages for each.
Writes docs/benchmarks/fwht_large_n_torch.json.

    KERAS_BACKEND=torch taskset -c 0 python -m benchmarks.speed.fwht_large_n
"""

import os
import pathlib

import keras

from benchmarks.harness.results import command_line, write_json
from benchmarks.harness.timing import interleaved_medians, random_inputs
from keras_crosswise import native
from keras_crosswise.ops import fwht


def measure(n, batch, repeats):
    import torch

    from keras_crosswise.native import _torch

    native_fwht = native.core().library.crosswise_fwht_f32
    x = torch.as_tensor(random_inputs((batch, n)))
    c = torch.as_tensor(random_inputs((n,), seed=1))
    out, inplace = torch.empty_like(x), x.clone()
    rows = x.numel() // n

    def into(target, source):
        return lambda: native_fwht(source.data_ptr(), target.data_ptr(), rows, n, 1.0)

    assert _torch.runs_directly(x)  # `fwht` below is the kernel's eager path
    return interleaved_medians(
        {
            "x * c": lambda: x * c,
            "x * c, out=": lambda: torch.mul(x, c, out=out),
            "fwht": lambda: fwht(x),
            "kernel into a reused buffer": into(out, x),
            "kernel in place": into(inplace, inplace),
            "torch.empty": lambda: torch.empty(batch, n),
            "torch.empty, written once": lambda: torch.empty(batch, n).fill_(0.0),
        },
        repeats,
    )


def arguments(parser):
    parser.add_argument("--sizes", type=int, nargs="*", default=[16384, 32768, 65536])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)


def run(args):
    if args.quick:
        args.sizes, args.batch, args.repeats = [1024], 8, 2
    if keras.backend.backend() != "torch" or not native.status()["available"]:
        raise SystemExit("run it with KERAS_BACKEND=torch and the native kernel built")
    threshold = os.environ.get("MALLOC_MMAP_THRESHOLD_")
    seconds = {}
    for n in args.sizes:
        seconds[str(n)] = measure(n, args.batch, args.repeats)
        print(f"n = {n} done", flush=True)
    name = "fwht_large_n_torch" + ("_mmap_threshold" if threshold else "")
    results = {"batch": args.batch, "mmap_threshold": threshold, "seconds": seconds}
    write_json(pathlib.Path(args.out) / f"{name}.json", results)
    return results


def report(results):
    batch, threshold = results["batch"], results["mmap_threshold"]
    for n, times in results["seconds"].items():
        floor = times["x * c"]
        print(f"n = {n}, batch {batch} (MALLOC_MMAP_THRESHOLD_={threshold}):")
        for name, seconds in times.items():
            ratio = seconds / floor
            print(f"  {name:30s} {seconds * 1e3:8.3f} ms  {ratio:5.2f}x x * c")


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
