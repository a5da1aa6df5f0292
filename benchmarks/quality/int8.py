"""Int8 serving: our layers against Dense under Keras's `quantize("int8")` and
under TFLite full-integer quantization.

Trains the digits and MNIST-1D comparison models (float32), then quantizes a
copy of each:
- Keras: `model.quantize("int8")` (it quantizes Dense layers; ours stay float);
- TFLite: the TensorFlow SavedModel export converted with a representative
  dataset (200 training samples) and int8 kernels only
  (`TFLITE_BUILTINS_INT8`, float inputs and outputs), run by the LiteRT
  interpreter; per-tensor errors from TensorFlow's QuantizationDebugger show
  where the error enters;
- TFLite dynamic range: int8 weights, float activations (no dataset).
Reports test accuracy before and after, and the share of test samples whose
predicted class is unchanged.
Run: KERAS_BACKEND=tensorflow python -m benchmarks.quality.int8 [--quick]
Writes docs/benchmarks/int8.json.
"""

import pathlib
import tempfile

import keras
import numpy as np

from benchmarks.harness import load_digits_split, load_mnist1d
from benchmarks.harness.models import digits_models, mnist1d_models
from benchmarks.harness.results import command_line, markdown_table, write_json
from benchmarks.harness.training import fit_and_score

MODELS = {
    "digits": (
        load_digits_split,
        digits_models,
        (
            "Dense 256-256-10",
            "CZDense 256-256 + Dense 10",
            "FastfoodDense 256-256 + Dense 10",
            "McKernel 512 (fixed) + Dense 10",
        ),
    ),
    "MNIST-1D": (
        load_mnist1d,
        mnist1d_models,
        (
            "MLP 100-100 (reference)",
            "MLP 100-100, CZDense middle",
            "MLP 100-100, FastfoodDense middle",
            "FastfoodDense 256-256-10",
            "McKernel 1024 (fixed) + linear",
        ),
    ),
}


def keras_int8(model, x):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.quantize("int8")
    return np.argmax(copy.predict(x, verbose=0), axis=-1)


def tflite_converter(model, representative, folder):
    """Full-integer with a `representative` dataset, else dynamic range (int8
    weights, float activations)."""
    import tensorflow as tf

    model.export(str(folder / "saved_model"), format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(folder / "saved_model"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative is not None:
        converter.representative_dataset = lambda: (
            [row[None]] for row in representative
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def tflite_classes(model, representative, x):
    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory() as folder:
        converter = tflite_converter(model, representative, pathlib.Path(folder))
        interpreter = Interpreter(model_content=converter.convert())
    entry = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(entry["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(entry["index"], x)
    interpreter.invoke()
    output = interpreter.get_output_details()[0]["index"]
    return np.argmax(interpreter.get_tensor(output), axis=-1)


def float_spread(float_tensor, quantized_tensor, scale, zero_point):
    return float(np.std(float_tensor))


def worst_tensors(model, representative, count=4):
    """The `count` tensors whose int8 values are furthest from float, relative
    to their spread (TensorFlow's QuantizationDebugger, 50 samples)."""
    import tensorflow as tf

    options = tf.lite.experimental.QuantizationDebugOptions(
        layer_direct_compare_metrics={"float_spread": float_spread}
    )
    with tempfile.TemporaryDirectory() as folder:
        converter = tflite_converter(model, representative, pathlib.Path(folder))
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter,
            debug_dataset=lambda: ([row[None]] for row in representative[:50]),
            debug_options=options,
        )
        debugger.run()
    errors = {  # the debugger's own RMSE (its dequantization) over the spread
        name.removeprefix("NumericVerify/"): float(
            np.sqrt(found["mean_squared_error"]) / (found["float_spread"] + 1e-12)
        )
        for name, found in debugger.layer_statistics.items()
    }
    ranked = sorted(errors.items(), key=lambda item: -item[1])[:count]
    return {name: round(error, 4) for name, error in ranked}


def measure(name, make_model, data, steps):
    keras.utils.set_random_seed(0)  # the initial weights too, not only the fit
    model = make_model()
    accuracy, _ = fit_and_score(model, data, steps=steps)
    x_test, y_test = data[1], data[3]
    float_classes = np.argmax(model.predict(x_test, verbose=0), axis=-1)
    found = {"float accuracy": float(accuracy)}
    representative = data[0][:200]
    quantized = {"keras int8": lambda: keras_int8(model, x_test)}
    if keras.backend.backend() == "tensorflow":
        quantized["tflite int8"] = lambda: tflite_classes(model, representative, x_test)
        quantized["tflite dynamic"] = lambda: tflite_classes(model, None, x_test)
    for method, classes in quantized.items():
        classes = classes()
        found[f"{method} accuracy"] = float(np.mean(classes == y_test))
        found[f"{method} agreement"] = float(np.mean(classes == float_classes))
    if "tflite int8" in quantized:
        found["tflite worst tensors"] = worst_tensors(model, representative)
    print(f"  {name}: {found}", flush=True)
    return found


def report(results):
    rows = []
    for task, models in results["tasks"].items():
        for name, found in models.items():
            row = [task, name, f"{100 * found['float accuracy']:.1f}"]
            for method in ("keras int8", "tflite int8", "tflite dynamic"):
                if f"{method} accuracy" in found:
                    row.append(f"{100 * found[f'{method} accuracy']:.1f}")
                    row.append(f"{100 * found[f'{method} agreement']:.1f}")
                else:
                    row += ["-", "-"]
            rows.append(row)
    header = ["task", "model", "float %", "Keras int8 %", "same class %"]
    header += ["TFLite int8 %", "same class %", "TFLite dynamic %", "same class %"]
    print(markdown_table(header, rows))


def arguments(parser):
    parser.add_argument("--steps", type=int, default=3000)


def run(args):
    if args.quick:
        args.steps = 20
    results = {"steps": args.steps, "tasks": {}}
    for task, (load, models, names) in MODELS.items():
        data = load()
        if task == "MNIST-1D" and args.quick:
            continue
        print(task, flush=True)
        factories = models()
        if args.quick:
            names = names[:2]
        results["tasks"][task] = {
            name: measure(name, factories[name], data, args.steps) for name in names
        }
    write_json(pathlib.Path(args.out) / "int8.json", results)
    return results


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
