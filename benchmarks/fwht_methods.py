"""Which fast Walsh-Hadamard method is fastest at each size, on this backend?

Times `fwht(x, method=...)` for a (256, n) batch, jit-compiled on TensorFlow and
JAX (eager on PyTorch), interleaved, median of repeats; prints microseconds and
the ratio of each method to the one `method="auto"` picks.
Run per backend: KERAS_BACKEND=jax python benchmarks/fwht_methods.py
"""

import argparse

import keras

from keras_crosswise.ops import fwht
from keras_crosswise.ops.hadamard import resolve_method

from _timing import compile_function, interleaved_medians, random_inputs

METHODS = ("matmul", "kronecker", "butterfly")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--max-log-n", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"backend {keras.backend.backend()}, batch {args.batch}")
    print(f"{'n':>6s}" + "".join(f"{m + ' us':>16s}" for m in METHODS) + "  auto picks")
    for log_n in range(4, args.max_log_n + 1):
        n = 2**log_n
        x = keras.ops.convert_to_tensor(random_inputs((args.batch, n)))
        methods = [m for m in METHODS if m != "matmul" or n <= 4096]
        functions = {
            m: compile_function(lambda v, m=m: fwht(v, method=m)) for m in methods
        }
        times = interleaved_medians(
            {m: (lambda f=f, x=x: f(x)) for m, f in functions.items()}, args.repeats
        )
        cells = [
            f"{times[m] * 1e6:16.1f}" if m in times else f"{'-':>16s}" for m in METHODS
        ]
        fastest = min(times, key=times.get)
        print(
            f"{n:6d}" + "".join(cells) + f"  {resolve_method(n)} (fastest: {fastest})",
            flush=True,
        )


if __name__ == "__main__":
    main()
