"""Smoke test of an installed keras-crosswise, outside the repository.

Run by scripts/check_package.sh in a fresh virtual environment holding only
the built wheel and the lowest versions pyproject.toml allows. Checks the
layers against NumPy, trains, saves and reloads; with `--sklearn`, the
scikit-learn transformer too. Prints one line per check; exits non-zero on
the first failure.
"""

import sys
import tempfile

import keras
import numpy as np

import keras_crosswise as kc


def check(name, condition):
    print(f"{'ok' if condition else 'FAILED'}: {name}", flush=True)
    if not condition:
        sys.exit(1)


def main():
    print(
        f"keras {keras.__version__}, numpy {np.__version__}, "
        f"backend {keras.backend.backend()}, keras-crosswise {kc.__version__}"
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype("float32")
    y = rng.integers(0, 3, 64)

    hadamard = kc.ops.hadamard_matrix(16)
    z = rng.standard_normal((5, 16)).astype("float32")
    check(
        "fwht equals x @ H",
        np.allclose(
            keras.ops.convert_to_numpy(kc.ops.fwht(z)), z @ hadamard, atol=1e-4
        ),
    )

    cz = kc.CZDense(24, use_bias=False, kernel_initializer="random_normal")
    out = keras.ops.convert_to_numpy(cz(x))
    kernel = keras.ops.convert_to_numpy(cz.to_dense_kernel())
    check("CZDense equals its dense kernel", np.allclose(out, x @ kernel, atol=1e-5))
    check("CZDense stores max(n, units) weights", cz.count_params() == 24)

    model = keras.Sequential(
        [
            keras.Input((12,)),
            kc.CZDense(32, activation="relu"),
            kc.FastfoodDense(32, activation="relu", seed=0),
            kc.McKernel(16, sigma=2.0, seed=0),
            keras.layers.Dense(3),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0).history["loss"]
    check("fit trains (loss falls)", history[-1] < history[0])
    with tempfile.TemporaryDirectory() as folder:
        model.save(f"{folder}/model.keras")
        restored = keras.models.load_model(f"{folder}/model.keras")
    same = np.allclose(
        keras.ops.convert_to_numpy(restored(x)),
        keras.ops.convert_to_numpy(model(x)),
        atol=1e-5,
    )
    check("save and reload give the same predictions", same)
    check_adapters_and_compress(rng, x, y)

    if "--sklearn" in sys.argv:
        from sklearn.linear_model import RidgeClassifier
        from sklearn.pipeline import make_pipeline

        from keras_crosswise.sklearn import McKernelSampler

        pipe = make_pipeline(
            McKernelSampler(101, sigma=3.0, random_state=0), RidgeClassifier()
        )
        features = pipe[0].fit_transform(x.astype("float64"))
        check(
            "McKernelSampler shape and dtype",
            features.shape == (64, 101) and features.dtype == np.float64,
        )
        check("McKernelSampler in a pipeline", pipe.fit(x, y).score(x, y) > 0.5)


def base_model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(64, activation="relu", name="hidden"),
            keras.layers.Dense(3, name="head"),
        ]
    )


def check_adapters_and_compress(rng, x, y):
    """Adapt, train, save and load the adapters, merge; compress where this
    Keras has `keras.distillation` (3.12), else its clear error."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = kc.adapters.adapt(base_model(1), kind="cz_bias", train=["head"])
    model.compile(keras.optimizers.Adam(0.01), loss)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    with tempfile.TemporaryDirectory() as folder:
        kc.adapters.save_adapters(model, f"{folder}/a.npz")
        loaded = kc.adapters.load_adapters(base_model(1), f"{folder}/a.npz")
    outputs = keras.ops.convert_to_numpy(model(x))
    same = np.allclose(keras.ops.convert_to_numpy(loaded(x)), outputs, atol=1e-5)
    check("adapters: trained, saved, loaded onto a fresh base", same)
    merged = kc.adapters.merge(model)
    same = np.allclose(keras.ops.convert_to_numpy(merged(x)), outputs, atol=1e-4)
    check("adapters: merged into plain Dense layers", same)
    teacher = base_model(2)
    teacher.compile("adam", loss)
    if hasattr(keras, "distillation"):
        student = kc.compress(
            teacher, x, y, into="cz", min_params=64, epochs=1, verbose=0
        )
        check("compress", student.count_params() < teacher.count_params())
    else:
        try:
            kc.compress(teacher, x, y, into="cz", min_params=64, verbose=0)
        except ImportError as error:
            check("compress says it needs Keras >= 3.12", "3.12" in str(error))
        else:
            check("compress refused without keras.distillation", False)


if __name__ == "__main__":
    main()
