"""RandomFourierFeatures: tf-keras's semantics, its saved files, our structures."""

import keras
import numpy as np
import pytest

from keras_crosswise.layers import RandomFourierFeatures

from layer_checks import assert_unbiased, run_layer_checks, to_numpy
from model_zoo import GOLDEN_DIR

TF_KERAS_FILES = ["tf_keras_rff_gaussian", "tf_keras_rff_laplacian_trained"]


def features(layer, x):
    """Outputs scaled by sqrt(2 / D), whose inner products estimate the kernel."""
    z = to_numpy(layer(x.astype("float32"))).astype("float64")
    return z * np.sqrt(2 / layer.output_dim)


def relative_error(approx, exact):
    return np.linalg.norm(approx - exact) / np.linalg.norm(exact)


@pytest.mark.parametrize("name", TF_KERAS_FILES)
def test_a_tf_keras_h5_file_loads_and_predicts_as_tf_keras_did(name):
    """Written by tf-keras 2.21 (tests/golden/write_tf_keras_rff.py)."""
    model = keras.models.load_model(
        GOLDEN_DIR / f"{name}.h5",
        custom_objects={"RandomFourierFeatures": RandomFourierFeatures},
        compile=False,
    )
    stored = np.load(GOLDEN_DIR / f"{name}.npz")
    np.testing.assert_allclose(
        to_numpy(model(stored["inputs"])), stored["outputs"], rtol=0, atol=1e-5
    )
    layer = model.layers[0]
    assert [w.name for w in layer.weights] == [
        "kernel_scale",
        "unscaled_kernel",
        "bias",
    ]
    trained = "trained" in name
    assert [w.name for w in layer.trainable_weights] == (
        ["kernel_scale"] if trained else []
    )


def test_outputs_follow_the_tf_keras_formula(rng):
    layer = RandomFourierFeatures(16, kernel_initializer="laplacian", scale=2.5, seed=3)
    x = rng.standard_normal((5, 7)).astype("float32")
    out = to_numpy(layer(x))
    kernel, bias = to_numpy(layer.unscaled_kernel), to_numpy(layer.bias)
    np.testing.assert_allclose(out, np.cos(x @ (kernel / 2.5) + bias), atol=1e-5)
    assert bias.min() >= 0 and bias.max() < 2 * np.pi
    default = RandomFourierFeatures(8, seed=0)
    default.build((None, 18))
    assert default.scale == pytest.approx(3.0)  # sqrt(d / 2), tf-keras's default


@pytest.mark.parametrize("structure", ["dense", "fastfood", "orthogonal"])
def test_gaussian_kernel_estimate_against_numpy(structure, rng):
    x = rng.standard_normal((60, 12))
    squared = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    exact = np.exp(-squared / (2 * 3.0**2))
    layer = RandomFourierFeatures(8192, scale=3.0, structure=structure, seed=1)
    z = features(layer, x)
    assert relative_error(z @ z.T, exact) < 0.05


@pytest.mark.parametrize("structure", ["dense", "fastfood"])
def test_laplacian_kernel_is_unbiased(structure, rng):
    """Averaged over seeds, the estimate matches exp(-||x - y||_1 / scale)
    computed in NumPy within 4.5 standard errors (structured rows share
    Cauchy divisors: unbiased, with more variance)."""
    x = rng.standard_normal((12, 6)) * 0.5
    exact = np.exp(-np.sum(np.abs(x[:, None] - x[None]), axis=-1) / 2.0)
    grams = []
    for seed in range(60):
        layer = RandomFourierFeatures(
            512, "laplacian", scale=2.0, structure=structure, seed=seed
        )
        z = features(layer, x)
        grams.append(z @ z.T)
    assert_unbiased(grams, exact)


@pytest.mark.parametrize("structure", ["dense", "orthogonal"])
@pytest.mark.parametrize("input_shape", [(4, 10), (2, 3, 16)])
def test_keras_layer_contract(structure, input_shape, rng, tmp_path):
    def factory():
        return RandomFourierFeatures(
            20, scale=2.0, trainable=True, structure=structure, seed=4
        )

    d = input_shape[-1]
    padded = 2 ** int(np.ceil(np.log2(d)))
    stored = d * 20 if structure == "dense" else 3 * -(-20 // padded) * padded + 20
    run_layer_checks(
        factory,
        input_shape,
        (*input_shape[:-1], 20),
        num_params=1 + stored + 20,
        rng=rng,
        tmp_path=tmp_path,
        trainable_weights=1,  # trainable=True: kernel_scale only (tf-keras's)
        # fixed: the kernel and the phase; or B, Pi, G, C and the phase
        non_trainable_weights=2 if structure == "dense" else 5,
    )


def test_a_seed_gives_the_same_draws_everywhere_and_none_follows_the_global_seed():
    def weights(layer):
        layer.build((None, 6))
        return [to_numpy(w) for w in layer.weights]

    first, second = (
        weights(RandomFourierFeatures(8, seed=2)),
        weights(RandomFourierFeatures(8, seed=2)),
    )
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    keras.utils.set_random_seed(5)
    unseeded = weights(RandomFourierFeatures(8))
    keras.utils.set_random_seed(5)
    for a, b in zip(unseeded, weights(RandomFourierFeatures(8)), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"output_dim": 0}, ValueError, "output_dim"),
        ({"output_dim": 4, "kernel_initializer": "cubic"}, ValueError, "kernel_init"),
        ({"output_dim": 4, "scale": -1.0}, ValueError, "scale"),
        ({"output_dim": 4, "scale": "2"}, TypeError, "scale"),
        ({"output_dim": 4, "structure": "sparse"}, ValueError, "structure"),
        (
            {
                "output_dim": 4,
                "kernel_initializer": "laplacian",
                "structure": "orthogonal",
            },
            ValueError,
            "orthogonal",
        ),
        (
            {"output_dim": 4, "kernel_initializer": "ones", "structure": "fastfood"},
            ValueError,
            "kernel_initializer",
        ),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        RandomFourierFeatures(**kwargs)


def test_a_custom_initializer_draws_the_dense_kernel(rng):
    layer = RandomFourierFeatures(
        6, kernel_initializer=keras.initializers.Constant(0.5), scale=1.0, seed=0
    )
    x = rng.standard_normal((3, 4)).astype("float32")
    out = to_numpy(layer(x))
    expected = np.cos(x @ np.full((4, 6), 0.5) + to_numpy(layer.bias))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    clone = RandomFourierFeatures.from_config(layer.get_config())
    assert isinstance(clone.kernel_initializer, keras.initializers.Constant)


@pytest.mark.parametrize("input_shape", [(3,), (3, None), (None,)])
def test_compute_output_shape_refuses_what_tf_keras_refuses(input_shape):
    # tf-keras's kernelized_test.py: rank < 2 or an undefined last axis raise.
    # We returned (10,) and (3, 10).
    with pytest.raises(ValueError, match="RandomFourierFeatures"):
        RandomFourierFeatures(10).compute_output_shape(input_shape)
    assert RandomFourierFeatures(10).compute_output_shape((3, 4)) == (3, 10)
