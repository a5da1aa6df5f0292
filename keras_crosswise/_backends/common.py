"""What most backends do (and Keras's inference-only backends, numpy and
openvino, do throughout); `jax`, `tensorflow` and `torch` override it where
theirs differs. See the package's docstring for each name."""

import contextlib

from keras import ops


def device_kind(x=None):
    return "cpu"


def exact_matmul():
    return contextlib.nullcontext()


def matmul(x, matrix):
    return ops.matmul(x, matrix)


def densified(x):
    return x


def quiet_trace():
    return contextlib.nullcontext()


CACHES_CONSTANTS = False


def cached(key, make, like):
    return make()


def float64_scope(dtype):
    return contextlib.nullcontext()


def custom_gradients_skipped():
    # numpy and openvino compute no gradient (Keras's custom-gradient wrapper
    # there only warns that it passes through).
    return True


def permute_rows(table, index):
    """`take(table, index, axis=0)` with the inverse permutation's gather as
    its gradient (a take's own gradient is a scatter-add, up to 2x slower)."""

    @ops.custom_gradient
    def permute(table):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return ops.take(upstream, ops.argsort(index), axis=0)

        return ops.take(table, index, axis=0), grad

    return permute(table)


def gathers_columns():
    return False


fastfood_columns = None


def scale_shift(x, scale, shift):
    return None


def keeps_output(x, scale):
    return False
