"""The c&z ops against NumPy float64, and the identities of Eq. 7-11."""

import keras
import numpy as np
import pytest
import scipy.linalg

from keras_crosswise import ops as czops

from layer_checks import to_numpy

ATOL = 1e-4


def paper_c_and_z(samples, kernels):
    """The paper's reference operand restated in NumPy: samples as rows, one
    block of output columns per diagonal kernel, in kernel order."""
    return np.hstack([samples * kernel for kernel in kernels])


@pytest.mark.parametrize("leading", [(), (3,), (2, 4), (2, 1, 3)])
def test_cz_is_diagonal_matrix_product(leading, rng):
    c = rng.standard_normal(6)
    x = rng.standard_normal((*leading, 6))
    expected = x @ np.diag(c)
    np.testing.assert_allclose(to_numpy(czops.cz(c, x)), expected, atol=ATOL)


def test_cz_rejects_mismatched_sizes(rng):
    with pytest.raises(ValueError, match=r"x.shape\[-1\]=5"):
        czops.cz(rng.standard_normal(4), rng.standard_normal((2, 5)))
    with pytest.raises(ValueError, match="vector"):
        czops.cz(rng.standard_normal((2, 4)), rng.standard_normal((2, 4)))


@pytest.mark.parametrize("num_kernels", [1, 2, 5])
def test_cz_expand_matches_paper_operand(num_kernels, rng):
    samples = rng.standard_normal((7, 4))
    kernels = rng.standard_normal((num_kernels, 4))
    result = to_numpy(czops.cz_expand(samples, kernels))
    assert result.shape == (7, num_kernels * 4)
    np.testing.assert_allclose(result, paper_c_and_z(samples, kernels), atol=ATOL)
    stacked = np.vstack([np.diag(kernel) for kernel in kernels])
    np.testing.assert_allclose(result, samples @ stacked.T, atol=ATOL)


def test_cz_expand_any_rank(rng):
    x = rng.standard_normal((2, 3, 5))
    kernels = rng.standard_normal((3, 5))
    result = to_numpy(czops.cz_expand(x, kernels))
    expected = paper_c_and_z(x.reshape(-1, 5), kernels).reshape(2, 3, 15)
    np.testing.assert_allclose(result, expected, atol=ATOL)


def test_cz_expand_errors(rng):
    with pytest.raises(ValueError, match="kernels"):
        czops.cz_expand(rng.standard_normal((2, 4)), rng.standard_normal(4))
    with pytest.raises(ValueError, match=r"kernels\.shape"):
        czops.cz_expand(rng.standard_normal((2, 4)), rng.standard_normal((3, 5)))


def test_products_match_numpy_and_scipy(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    c = rng.standard_normal((3, 5))
    np.testing.assert_allclose(
        to_numpy(czops.kronecker(a, b)), np.kron(a, b), atol=ATOL
    )
    np.testing.assert_allclose(
        to_numpy(czops.khatri_rao(a, b)), scipy.linalg.khatri_rao(a, b), atol=ATOL
    )
    face = to_numpy(czops.face_splitting(a, c))
    np.testing.assert_allclose(
        face, np.stack([np.kron(r, s) for r, s in zip(a, c, strict=True)]), atol=ATOL
    )


def test_product_shape_errors(rng):
    with pytest.raises(ValueError, match="columns"):
        czops.khatri_rao(rng.standard_normal((3, 4)), rng.standard_normal((3, 5)))
    with pytest.raises(ValueError, match="rows"):
        czops.face_splitting(rng.standard_normal((3, 4)), rng.standard_normal((2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        czops.kronecker(rng.standard_normal(3), rng.standard_normal((2, 2)))


def _f64(array):
    return to_numpy(array).astype("float64")


def test_eq7_mixed_product(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 2))
    c, d = rng.standard_normal((3, 2)), rng.standard_normal((2, 3))
    left = _f64(czops.kronecker(a, b)) @ _f64(czops.kronecker(c, d))
    right = _f64(czops.kronecker(a @ c, b @ d))
    np.testing.assert_allclose(left, right, atol=1e-3)


def test_eq8_kronecker_pseudo_inverse(rng):
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    left = np.linalg.pinv(_f64(czops.kronecker(a, b)))
    right = _f64(czops.kronecker(np.linalg.pinv(a), np.linalg.pinv(b)))
    np.testing.assert_allclose(left, right, atol=1e-3)


def test_eq9_khatri_rao_associative(rng):
    a, b, c = (rng.standard_normal((k, 3)) for k in (2, 3, 2))
    left = czops.khatri_rao(czops.khatri_rao(a, b), c)
    right = czops.khatri_rao(a, czops.khatri_rao(b, c))
    np.testing.assert_allclose(to_numpy(left), to_numpy(right), atol=ATOL)


def test_eq10_and_eq11_khatri_rao_gram_and_pseudo_inverse(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 4))
    product = _f64(czops.khatri_rao(a, b))
    gram = (a.T @ a) * (b.T @ b)
    np.testing.assert_allclose(product.T @ product, gram, atol=1e-3)
    np.testing.assert_allclose(
        np.linalg.pinv(product), np.linalg.pinv(gram) @ product.T, atol=1e-3
    )


def test_ops_train_under_fit(rng):
    """cz_expand inside a model trains under fit (jit where supported): the
    head learns a target that is linear in the c&z features."""
    from layer_checks import JIT

    kernels = rng.standard_normal((2, 3)).astype("float32")
    inputs = keras.Input((3,))
    expanded = keras.layers.Lambda(lambda x: czops.cz_expand(x, kernels))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(expanded))
    model.compile(
        keras.optimizers.Adam(0.05),
        "mse",
        jit_compile=JIT,
        steps_per_execution=50 if JIT else 1,  # PyTorch runs one step a call
    )
    x = rng.standard_normal((64, 3)).astype("float32")
    target = paper_c_and_z(x, kernels) @ rng.standard_normal((6, 1)).astype("float32")
    before = model.evaluate(x, target, verbose=0)
    # 150 steps in one epoch, 50 per compiled call where compiled.
    model.fit(np.tile(x, (150, 1)), np.tile(target, (150, 1)), batch_size=64, verbose=0)
    after = model.evaluate(x, target, verbose=0)
    assert after < 0.01 * before, (before, after)


def test_ops_build_functional_models(rng):
    """Called on `keras.Input`, the ops give symbolic outputs of the right shape."""
    x, a = keras.Input((3, 5)), keras.Input(batch_shape=(4, 2))
    kernels = rng.standard_normal((2, 5)).astype("float32")
    assert tuple(czops.cz(kernels[0], x).shape) == (None, 3, 5)
    assert tuple(czops.cz_expand(x, kernels).shape) == (None, 3, 10)
    assert tuple(czops.face_splitting(a, a).shape) == (4, 4)
    assert tuple(czops.khatri_rao(a, a).shape) == (16, 2)
    model = keras.Model(x, czops.cz_expand(x, kernels))
    data = rng.standard_normal((2, 3, 5)).astype("float32")
    expected = paper_c_and_z(data.reshape(-1, 5), kernels).reshape(2, 3, 10)
    np.testing.assert_allclose(to_numpy(model(data)), expected, atol=ATOL)


def _symbolic_cases(rng):
    """Each public tensor op: (name, symbolic-input shapes, constant arguments,
    call). A `None` leading axis is the batch."""
    diag = rng.standard_normal(5).astype("float32")
    kernels = rng.standard_normal((2, 5)).astype("float32")
    signs = np.sign(rng.standard_normal((2, 16))).astype("float32")
    permutation = np.stack([rng.permutation(16) for _ in range(2)]).astype("int32")
    gaussian = rng.standard_normal((2, 16)).astype("float32")
    return {
        "cz": ([(None, 3, 5)], lambda x: czops.cz(diag, x)),
        "cz_expand": ([(None, 3, 5)], lambda x: czops.cz_expand(x, kernels)),
        "face_splitting": ([(4, 2), (4, 3)], czops.face_splitting),
        "khatri_rao": ([(4, 2), (3, 2)], czops.khatri_rao),
        "kronecker": ([(4, 2), (3, 5)], czops.kronecker),
        "fwht": ([(None, 3, 16)], czops.fwht),
        "pad_to_power_of_two": ([(None, 3, 5)], czops.pad_to_power_of_two),
        "fastfood": (
            [(None, 3, 16)],
            lambda x: czops.fastfood(x, signs, permutation, gaussian),
        ),
    }


def test_every_tensor_op_is_covered_by_the_symbolic_test(rng):
    not_tensor_ops = {"hadamard_matrix", "next_power_of_two"}
    assert set(_symbolic_cases(rng)) == set(czops.__all__) - not_tensor_ops


@pytest.mark.parametrize(
    "name",
    [
        "cz",
        "cz_expand",
        "face_splitting",
        "khatri_rao",
        "kronecker",
        "fwht",
        "pad_to_power_of_two",
        "fastfood",
    ],
)
def test_every_op_answers_keras_input_with_a_correct_keras_tensor(name, rng):
    """On `keras.Input` each op returns a KerasTensor whose shape and dtype are
    those of the eager result, and a functional model built on it computes
    the eager result."""
    shapes, call = _symbolic_cases(rng)[name]
    inputs = [keras.Input(batch_shape=shape) for shape in shapes]
    symbolic = call(*inputs)
    assert isinstance(symbolic, keras.KerasTensor)
    data = [
        rng.standard_normal([2 if size is None else size for size in shape]).astype(
            "float32"
        )
        for shape in shapes
    ]
    eager = to_numpy(call(*data))
    assert keras.backend.standardize_dtype(symbolic.dtype) == "float32"
    batch = shapes[0][0]
    expected_shape = (batch if batch is None else eager.shape[0], *eager.shape[1:])
    assert tuple(symbolic.shape) == expected_shape
    model = keras.Model(inputs, symbolic)
    np.testing.assert_allclose(to_numpy(model(data)), eager, rtol=1e-5, atol=1e-4)


def fastfood_arguments(n=8, blocks=1):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, n)).astype("float32")
    ones = np.ones((blocks, n), "float32")
    return x, ones, ones


@pytest.mark.parametrize(
    ("permutation", "message"),
    [
        (np.array([[0, 1, 2, 3, 4, 5, 6, 8]]), "permutation of 0..7"),  # out of range
        (np.zeros((1, 8), "int32"), "permutation of 0..7"),  # all zero
        (-np.arange(8)[None], "permutation of 0..7"),  # negative
        (np.array([[0, 0, 2, 3, 4, 5, 6, 7]]), "permutation of 0..7"),  # duplicate
        (np.arange(8, dtype="float32")[None], "integer"),
        ([[7, 6, 5, 4, 3, 2, 1, 1]], "permutation of 0..7"),  # a list
    ],
)
def test_fastfood_refuses_a_bad_permutation(permutation, message):
    # JAX returned NaN for an out-of-range index; the others were silent.
    x, signs, gaussian = fastfood_arguments()
    with pytest.raises(ValueError, match=message):
        czops.fastfood(x, signs, permutation, gaussian)


def test_fastfood_refuses_a_float_tensor_permutation():
    x, signs, gaussian = fastfood_arguments()
    permutation = keras.ops.convert_to_tensor(np.arange(8, dtype="float32")[None])
    with pytest.raises(ValueError, match="integer"):
        czops.fastfood(x, signs, permutation, gaussian)


def test_fastfood_with_a_valid_permutation_matches_numpy(rng):
    x, signs, gaussian = fastfood_arguments()
    permutation = rng.permutation(8)[None]
    hadamard = scipy.linalg.hadamard(8).astype("float64")
    expected = ((x.astype("float64") @ hadamard)[:, permutation[0]]) @ hadamard
    out = to_numpy(czops.fastfood(x, signs, permutation, gaussian))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "call",
    [
        lambda: czops.kronecker(np.ones((256, 256)), np.ones((256, 256))),
        lambda: czops.khatri_rao(np.ones((2**15, 2)), np.ones((2**14, 2))),
        lambda: czops.face_splitting(np.ones((2**15, 2**8)), np.ones((2**15, 2**8))),
    ],
)
def test_products_over_the_size_limit_are_refused(call):
    with pytest.raises(ValueError, match="over the limit"):
        call()


def _scale_shift_gradients(x, scale, shift, upstream):
    """`scale_shift`'s value and its gradients for x, scale and shift (a
    backend's own autodiff), as NumPy."""
    from keras_crosswise.ops.cz import scale_shift

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        tensors = [
            None if a is None else torch.tensor(a, requires_grad=True)
            for a in (x, scale, shift)
        ]
        out = scale_shift(*tensors)
        out.backward(torch.tensor(upstream))
        grads = [None if t is None else t.grad.numpy() for t in tensors]
        return out.detach().numpy(), grads
    if backend == "jax":
        import jax

        def loss(*args):
            return (scale_shift(*args) * upstream).sum()

        arguments = [a for a in (x, scale, shift) if a is not None]
        grads = list(jax.grad(loss, range(len(arguments)))(*arguments))
        value = np.asarray(scale_shift(x, scale, shift))
        return value, [*map(np.asarray, grads), None][:3]
    import tensorflow as tf

    variables = [None if a is None else tf.Variable(a) for a in (x, scale, shift)]
    with tf.GradientTape() as tape:
        out = scale_shift(*variables)
        loss = tf.reduce_sum(out * upstream)
    present = [v for v in variables if v is not None]
    grads = [g.numpy() for g in tape.gradient(loss, present)] + [None]
    return out.numpy(), grads[:3]


@pytest.mark.parametrize("with_shift", [True, False])
@pytest.mark.parametrize(
    "x_shape, scale_shape",
    [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((2, 3, 5), (5,))],
)
@pytest.mark.parametrize("small_scale", [False, True])
def test_scale_shift_values_and_gradients(
    x_shape, scale_shape, with_shift, small_scale, rng
):
    """`x * scale + shift` and its gradients against NumPy float64, where
    PyTorch's backward recovers x from the output and where a scale near
    zero makes it keep x instead."""
    x = rng.standard_normal(x_shape)
    scale = rng.uniform(0.5, 1.5, scale_shape) * rng.choice([-1, 1], scale_shape)
    if small_scale:
        scale.flat[0] = 1e-5  # below RECOVERABLE_SCALE: x is kept
    shift = rng.standard_normal(scale_shape) if with_shift else None
    upstream = rng.standard_normal(x_shape)
    value, (gx, gscale, gshift) = _scale_shift_gradients(x, scale, shift, upstream)
    expected = x * scale + (0.0 if shift is None else shift)
    leading = tuple(range(len(x_shape) - len(scale_shape)))
    np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gx, upstream * scale, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        gscale, (upstream * x).sum(axis=leading), rtol=1e-6, atol=1e-6
    )
    if with_shift:
        np.testing.assert_allclose(
            gshift, upstream.sum(axis=leading), rtol=1e-6, atol=1e-6
        )
