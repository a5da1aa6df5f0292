"""Serve a saved zoo the way a production server does: load each model with the
recommended recipe, `keras.models.load_model(path, compile=False)`, and predict.

    python tests/serve_zoo.py ZOO_DIR

ZOO_DIR holds one folder per backend that saved it (`tests/model_zoo.py save`).
Run by tests/test_serving.py in environments that hold one backend only, and
under Keras's inference-only numpy and openvino backends. Standalone: it
imports the installed keras-crosswise, nothing of the repository. Prints one
line per model, then whether `compile=True` loads each backend's models; exits
1 if a model is more than 1e-5 off its saved outputs or warns.
"""

import argparse
import pathlib
import sys
import warnings

TOLERANCE = 1e-5


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo", type=pathlib.Path)
    args = parser.parse_args()
    import keras
    import numpy as np

    import keras_crosswise  # noqa: F401 (registers the layers)

    backend = keras.backend.backend()
    print(f"serving under {backend}, keras {keras.__version__}")
    warnings.simplefilter("error", UserWarning)
    worst = 0.0
    for saved_under in sorted(p for p in args.zoo.iterdir() if p.is_dir()):
        for path in sorted(saved_under.glob("*.keras")):
            model = keras.models.load_model(path, compile=False)
            stored = np.load(path.with_suffix(".npz"))
            outputs = [keras.ops.convert_to_numpy(model(stored["inputs"]))]
            if backend != "openvino":  # its predict runs in bf16 (Keras's)
                outputs.append(model.predict(stored["inputs"], verbose=0))
            difference = max(np.abs(o - stored["outputs"]).max() for o in outputs)
            worst = max(worst, float(difference))
            print(f"{saved_under.name}/{path.stem}: {difference:.2e}")
        first = sorted(saved_under.glob("*.keras"))[0]
        try:
            keras.models.load_model(first, compile=True)
            print(f"compile=True, saved under {saved_under.name}: loads")
        except Exception as error:  # Keras raises TypeError or ValueError
            message = str(error).splitlines()[0][:160]
            print(f"compile=True, saved under {saved_under.name}: fails: {message}")
    print(f"worst difference {worst:.2e}")
    if worst > TOLERANCE:
        sys.exit(1)


if __name__ == "__main__":
    main()
