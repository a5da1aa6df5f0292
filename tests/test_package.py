"""The public API surface."""

import keras_crosswise


def test_public_api():
    assert keras_crosswise.__version__
    assert keras_crosswise.CZDense is keras_crosswise.layers.CZDense
    for name in ("cz", "cz_expand", "khatri_rao", "kronecker", "face_splitting"):
        assert callable(getattr(keras_crosswise.ops, name))
    assert keras_crosswise.initializers.DiagonalVarianceScaling
    assert keras_crosswise.initializers.IdentityDiagonal
    assert keras_crosswise.regularizers.IdentityL2
