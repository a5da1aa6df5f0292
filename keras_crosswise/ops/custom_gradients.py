"""When the ops skip their hand-written gradients."""

from keras_crosswise import _backends


def custom_gradients_skipped():
    """Whether `fwht` and `fastfood` run without their custom gradients now.

    They define their gradients by hand (H is its own adjoint, a permutation's
    adjoint is its inverse) with `keras.ops.custom_gradient`. On PyTorch they
    skip that wrapper, and return the plain forward computation, whenever no
    gradient can be wanted or the wrapper cannot be traced:

    - under `torch.no_grad()` (also `predict` and inference in Keras);
    - while `torch.jit`, `torch.export` or `torch.compile` trace, as the ONNX
      exporter does: they cannot trace Keras's torch custom-gradient wrapper.

    Always `False` on TensorFlow and JAX, whose exporters trace the wrapper;
    always `True` on the inference-only backends (numpy, openvino), which
    compute no gradient (Keras's wrapper there only warns that it passes
    through).

    Example:

    >>> custom_gradients_skipped()  # eager, gradients on: every training backend
    False
    """
    return _backends.custom_gradients_skipped()
