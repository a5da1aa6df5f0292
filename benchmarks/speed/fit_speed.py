"""Train-step and inference time through `fit`/`predict`: our layers vs Dense.

Each model is one layer from `width` inputs to `width` outputs, trained with
Adam on a mean squared error, batch 256, epochs of `--steps` steps (20 by
default, so that the per-epoch input pipeline is a small share):
- floor: `x * c + b` in a bare layer, the cheapest model of CZDense's size,
  under the same `fit`: what the framework costs by itself;
- CZDense(width), FastfoodDense(width), Dense(width);
- McKernel(width / 2) with learned diagonals (`trainable_features=True`, 2 * D = width
  outputs) against a dense random projection `cos/sin(x @ W)`, W of shape
  (width, width / 2), learned too.
All models live in one process and are timed in turn (interleaved), median
over repeats; the time per step is the epoch time (a callback's clock from
`on_epoch_begin` to `on_epoch_end`) over the number of steps. A second table
times CZDense, FastfoodDense and Dense under other `fit` settings (`jit_compile`,
`steps_per_execution`).
Where the native Walsh-Hadamard kernel is built (`keras_crosswise.native`),
FastfoodDense is also timed on the portable `keras.ops` path, each call inside
`native.disabled()` (a compiled function keeps the path it was traced with):
`FastfoodDense` is the native route, `FastfoodDense keras.ops` the other one.
Run per backend: KERAS_BACKEND=jax python -m benchmarks.speed.fit_speed
"""

import time

import keras

from benchmarks.harness.baselines import dense_fourier_features
from benchmarks.harness.results import command_line, markdown_table, write_json
from benchmarks.harness.timing import (
    interleaved_measures,
    random_inputs,
    without_native,
)
from keras_crosswise import native
from keras_crosswise.layers import CZDense, FastfoodDense, McKernel


class ScaleShift(keras.layers.Layer):
    """The floor: `x * scale + shift`, nothing else."""

    def build(self, input_shape):
        width = input_shape[-1]
        self.scale = self.add_weight(shape=(width,), initializer="ones")
        self.shift = self.add_weight(shape=(width,), initializer="zeros")

    def call(self, inputs):
        return inputs * self.scale + self.shift


class RandomProjectionFeatures(keras.layers.Layer):
    """Random Fourier features with a dense Gaussian matrix: cos/sin(x @ W)."""

    def __init__(self, num_features, **kwargs):
        super().__init__(**kwargs)
        self.num_features = num_features

    def build(self, input_shape):
        self.projection = self.add_weight(
            shape=(input_shape[-1], self.num_features),
            initializer=keras.initializers.RandomNormal(0.0, input_shape[-1] ** -0.5),
        )

    def call(self, inputs):
        return dense_fourier_features(inputs, self.projection)


LAYERS = {
    "floor": lambda width: ScaleShift(),
    "CZDense": CZDense,
    "FastfoodDense": FastfoodDense,
    "Dense": keras.layers.Dense,
    "McKernel": lambda width: McKernel(width // 2, trainable_features=True, seed=0),
    "projection": lambda width: RandomProjectionFeatures(width // 2),
}


class EpochClock(keras.callbacks.Callback):
    """Seconds of the last training epoch and of the last `predict`."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds = time.perf_counter() - self.start

    def on_predict_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_predict_end(self, logs=None):
        self.predict_seconds = time.perf_counter() - self.start


def compiled_model(layer, width, **compile_args):
    model = keras.Sequential([keras.Input((width,)), layer])
    model.compile(optimizer="adam", loss="mse", **compile_args)
    return model


def step_measures(model, x, y, batch):
    """Two measures: seconds per train step, seconds per inference batch."""
    clock, steps = EpochClock(), len(x) // batch

    def train():
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=[clock])
        return clock.train_seconds / steps

    def infer():
        model.predict(x, batch_size=batch, verbose=0, callbacks=[clock])
        return clock.predict_seconds / steps

    return train, infer


def regression_data(width, batch, steps):
    """`steps` batches of random inputs and targets, both `width` wide."""
    return (
        random_inputs((steps * batch, width)),
        random_inputs((steps * batch, width), seed=1),
    )


PORTABLE = "FastfoodDense keras.ops"


def time_layers(width, batch, steps, repeats, names):
    x, y = regression_data(width, batch, steps)
    measures = {}
    for name in names:
        model = compiled_model(LAYERS[name](width), width)
        measures[f"{name} train"], measures[f"{name} infer"] = step_measures(
            model, x, y, batch
        )
    if native.status()["available"]:
        model = compiled_model(FastfoodDense(width), width)
        for phase, measure in zip(
            ("train", "infer"), step_measures(model, x, y, batch), strict=True
        ):
            measures[f"{PORTABLE} {phase}"] = without_native(measure)
    return interleaved_measures(measures, repeats, warmup=1)


def settings_grid(width, batch, steps, repeats):
    """CZDense, FastfoodDense and Dense train steps under each `jit_compile` x
    `steps_per_execution` setting."""
    x, y = regression_data(width, batch, steps)
    measures = {}
    for name in ("CZDense", "FastfoodDense", "Dense"):
        for jit in (False, True):
            for per_execution in (1, steps):
                model = compiled_model(
                    LAYERS[name](width),
                    width,
                    jit_compile=jit,
                    steps_per_execution=per_execution,
                )
                key = f"{name} jit_compile={jit} steps_per_execution={per_execution}"
                measures[key] = step_measures(model, x, y, batch)[0]
    results = {}
    for key, measure in measures.items():
        try:  # torch.compile may be unavailable on a machine
            measure()
        except Exception as error:
            results[key] = f"fails: {type(error).__name__}: {str(error)[:90]}"
    working = {key: m for key, m in measures.items() if key not in results}
    results.update(interleaved_measures(working, repeats, warmup=0))
    return results


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    widths = sorted(int(width) for width in results)
    for axis, phase in zip(axes, ("train", "infer"), strict=True):
        for name in LAYERS:
            axis.plot(
                widths,
                [results[str(w)][f"{name} {phase}"] * 1e3 for w in widths],
                marker="o",
                label=name,
            )
        axis.set_xscale("log", base=2)
        axis.set_xticks(widths, [str(width) for width in widths])
        axis.minorticks_off()
        axis.set(
            yscale="log",
            xlabel="width (inputs = outputs)",
            ylabel=f"ms per {'train step' if phase == 'train' else 'batch'}",
            title=f"{keras.backend.backend()}: {phase}",
        )
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def report(results):
    grid = results["settings_seconds_per_step"]
    rows = []
    for width, times in results["seconds_per_step"].items():
        floor = times["floor train"]
        for name in [*LAYERS, PORTABLE]:
            if f"{name} train" not in times:
                continue
            rows.append(
                [
                    keras.backend.backend(),
                    width,
                    name,
                    f"{times[f'{name} train'] * 1e3:.3f}",
                    f"{times[f'{name} train'] / floor:.2f}",
                    f"{times[f'{name} train'] / times['Dense train']:.3f}",
                    f"{times[f'{name} infer'] * 1e3:.3f}",
                    f"{times[f'{name} infer'] / times['Dense infer']:.3f}",
                ]
            )
    header = ["backend", "width", "model", "train ms/step", "/ floor", "/ Dense"]
    print(markdown_table([*header, "infer ms/batch", "/ Dense"], rows))
    print()
    print(
        markdown_table(
            ["backend", "fit setting", "train ms/step"],
            [
                [keras.backend.backend(), key, f"{value * 1e3:.3f}"]
                if isinstance(value, float)
                else [keras.backend.backend(), key, value]
                for key, value in grid.items()
            ],
        )
    )


def arguments(parser):
    parser.add_argument(
        "--widths", type=int, nargs="+", default=[256, 1024, 4096, 8192]
    )
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--settings-width", type=int, default=1024)


def run(args):
    if args.quick:
        args.widths, args.batch, args.repeats, args.settings_width = [64], 32, 1, 64
    backend = keras.backend.backend()
    seconds = {}
    for width in args.widths:
        repeats = args.repeats if width < 8192 else max(1, args.repeats - 2)
        seconds[str(width)] = time_layers(
            width, args.batch, args.steps, repeats, list(LAYERS)
        )
        print(f"width {width} done", flush=True)
    grid = settings_grid(args.settings_width, args.batch, args.steps, args.repeats)
    results = {
        "batch": args.batch,
        "steps": args.steps,
        "seconds_per_step": seconds,
        "settings_width": args.settings_width,
        "settings_seconds_per_step": grid,
    }
    out = f"{args.out}/fit_speed_{backend}"
    write_json(f"{out}.json", results)
    plot(seconds, f"{out}.png")
    print(f"wrote {out}.json and {out}.png")
    return results


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
