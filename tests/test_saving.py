"""Save anywhere, load anywhere: all 9 backend pairs, golden files, no-import errors."""

import keras
import numpy as np
import pytest

from layer_checks import to_numpy
from model_zoo import (
    GOLDEN_DIR,
    LAYERS,
    TOLERANCE,
    build_model,
    sample_inputs,
)
from script_runner import BACKENDS, run_python

CURRENT = keras.backend.backend()


@pytest.mark.parametrize("saved_under", BACKENDS)
@pytest.mark.parametrize("name", list(LAYERS))
def test_load_model_saved_under_any_backend(name, saved_under, zoo_by_backend):
    directory = zoo_by_backend / saved_under
    model = keras.models.load_model(directory / f"{name}.keras")
    stored = np.load(directory / f"{name}.npz")
    difference = np.abs(to_numpy(model(stored["inputs"])) - stored["outputs"]).max()
    assert difference <= TOLERANCE[name], (
        f"{name} saved under {saved_under}, loaded under {CURRENT}: {difference}"
    )


@pytest.mark.parametrize("other", [b for b in BACKENDS if b != CURRENT])
def test_a_seed_gives_the_same_weights_on_every_backend(other, zoo_by_backend):
    here = np.load(zoo_by_backend / CURRENT / "seeded.npz")
    there = np.load(zoo_by_backend / other / "seeded.npz")
    assert sorted(here.files) == sorted(there.files)
    for key in here.files:
        # Draws are bit-identical; C of McKernel is divided by ||G|| on each
        # backend and the sampler's features go through the transform.
        np.testing.assert_allclose(here[key], there[key], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["FastfoodDense", "McKernel"])
@pytest.mark.parametrize("tamper", ["zeros", "out_of_range"])
def test_a_tampered_permutation_is_refused_on_load(name, tamper, tmp_path):
    model = build_model(name)
    layer = model.layers[0]
    rows = to_numpy(layer.permutation.value)
    bad = np.zeros_like(rows) if tamper == "zeros" else rows + rows.shape[-1]
    layer.permutation.assign(bad)
    model.save(tmp_path / "tampered.keras")
    with pytest.raises(ValueError, match=r"`permutation` must hold .* permutation"):
        keras.models.load_model(tmp_path / "tampered.keras")
    layer.permutation.assign(rows)
    model.save(tmp_path / "intact.keras")
    restored = keras.models.load_model(tmp_path / "intact.keras")
    np.testing.assert_allclose(
        to_numpy(restored(sample_inputs())), to_numpy(model(sample_inputs()))
    )


@pytest.mark.parametrize("name", list(LAYERS))
def test_golden_files_still_load(name):
    """Files written by an earlier version (tests/model_zoo.py golden): renaming or
    reordering a layer's weights breaks them, and this test."""
    model = keras.models.load_model(GOLDEN_DIR / f"{name}.keras")
    stored = np.load(GOLDEN_DIR / f"{name}.npz")
    difference = np.abs(to_numpy(model(stored["inputs"])) - stored["outputs"]).max()
    assert difference <= TOLERANCE[name], difference


def test_golden_files_cover_every_layer():
    assert sorted(p.stem for p in GOLDEN_DIR.glob("*.keras")) == sorted(LAYERS)


@pytest.mark.backend_independent
def test_loading_without_import_names_the_class(tmp_path):
    model = build_model("CZDense")
    model.save(tmp_path / "model.keras")
    script = "import keras, sys\nkeras.models.load_model(sys.argv[1])\n"
    result = run_python(["-c", script, str(tmp_path / "model.keras")], CURRENT)
    assert result.returncode != 0
    # The lines docs/saving.md and the README quote.
    assert "could not be deserialized properly" in result.stderr
    assert "Could not locate class 'CZDense'" in result.stderr, result.stderr[-2000:]
    with_objects = (
        "import keras, sys\n"
        "from keras_crosswise.layers import CZDense\n"
        "keras.models.load_model(sys.argv[1], custom_objects={'CZDense': CZDense})\n"
    )
    result = run_python(["-c", with_objects, str(tmp_path / "model.keras")], CURRENT)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.filterwarnings("ignore:Layer InputLayer does not have a `quantize`")
@pytest.mark.parametrize("name", ["CZDense", "FastfoodDense", "McKernel"])
def test_int8_quantize_keeps_our_layers_float_and_the_model_usable(name, tmp_path):
    """docs/saving.md: `model.quantize("int8")` quantizes the Dense layers and
    leaves ours in float32 (Keras warns that they have no `quantize`)."""
    model = build_model(name)
    x = sample_inputs()
    before = to_numpy(model(x))
    with pytest.warns(UserWarning, match=f"{name} does not have a `quantize`"):
        model.quantize("int8")
    ours, head = model.layers
    assert head.kernel.dtype == "int8"
    assert all(w.dtype in ("float32", "int32") for w in ours.weights)
    after = to_numpy(model(x))
    np.testing.assert_allclose(after, before, atol=0.05 * np.abs(before).max())
    model.save(tmp_path / "int8.keras")
    restored = keras.models.load_model(tmp_path / "int8.keras")
    np.testing.assert_allclose(to_numpy(restored(x)), after, rtol=1e-6, atol=1e-6)


def test_the_atomic_save_recipe_of_the_docs_keeps_the_old_file(tmp_path):
    # docs/saving.md: model.save writes in place, so a failed write loses the
    # old file; the recipe there must not.
    import pathlib
    import re

    text = pathlib.Path(__file__).parents[1].joinpath("docs", "saving.md").read_text()
    (code,) = [
        b
        for b in re.findall(r"```python\n(.*?)```", text, re.S)
        if "def save_atomically" in b
    ]
    namespace = {}
    exec(code, namespace)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "model.keras"
    namespace["save_atomically"](model, path)
    good = path.read_bytes()

    class Failing(keras.Sequential):
        def save(self, filepath, *args, **kwargs):
            pathlib.Path(filepath).write_bytes(b"half a file")
            raise OSError("disk full")

    failing = Failing([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(OSError, match="disk full"):
        namespace["save_atomically"](failing, path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]
    keras.models.load_model(path)
