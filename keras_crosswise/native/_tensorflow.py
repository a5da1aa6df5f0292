"""The native kernel in TensorFlow: an op (`KerasCrosswiseFwht`, CPU) loaded
with `tf.load_op_library`, its gradient registered (the same op: H is
symmetric, so the gradient is the transform of the gradient).

It serves eager calls and the graphs of Keras's own `fit`, `evaluate` and
`predict` (a `tf.function` without XLA: Keras's default on a CPU). Every
other graph takes the portable `keras.ops` path (`serves_this_trace`): XLA
(`jit_compile=True`) compiles no custom op, and a graph that may be saved
(`model.export`, `tf.saved_model.save`, a `tf.function` of the user's) must
carry no op that another runtime lacks, unless the caller asked for the
kernel by name (`fwht(method="native")`).
"""

import tensorflow as tf

from keras_crosswise._backend_internals import tensorflow_trace
from keras_crosswise._keras_internals import KERAS_STEP_FUNCTIONS

OP = "KerasCrosswiseFwht"
_module = None


def register(path):
    """Load the op library at `path` and register the op's gradient (once)."""
    global _module
    if _module is None:
        module = tf.load_op_library(str(path))

        @tf.RegisterGradient(OP)
        def _gradient(op, gradient):
            return [module.keras_crosswise_fwht(gradient, op.inputs[1]), None]

        _module = module
    return _module


def serves_this_trace(asked=False):
    """Whether the op may run where TensorFlow runs now: eagerly, or while a
    step function of Keras's trainer traces, or any graph where the caller
    `asked` for it (`fwht(method="native")`); never under XLA or while
    `tf.saved_model.save` traces."""
    where = tensorflow_trace()
    if where == "eager":
        return True
    if where in ("xla", "saving"):
        return False
    return asked or any(name in KERAS_STEP_FUNCTIONS for name in where)


def fwht(x, factor):
    """`factor * x @ H_n` over the last axis of a float32/float64 tensor."""
    return _module.keras_crosswise_fwht(x, tf.constant(factor, tf.float64))
