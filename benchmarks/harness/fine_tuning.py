"""Fine-tuning methods for benchmarks/quality/fine_tuning.py: each returns a copy of a
pretrained model (new head included) with only the method's weights trainable.

- head: the head alone; `bitfit`: the head and every bias;
- `cz`, `cz_bias`, `fastfood`: `keras_crosswise.adapters.adapt` on the
  body's Dense/EinsumDense layers;
- `vera`: VeRA (Kopiczko et al. 2024) with stored dense random matrices, on
  the body's Dense layers (not EinsumDense);
- `lora{r}` / `lora{r}+bias`: Keras's own `enable_lora(r)` on the same
  layers, its biases frozen / left trainable (Keras's default);
- `full`: everything.
"""

import statistics
import time

import keras
import numpy as np

from keras_crosswise._surgery import copy_layer, copy_with_swaps, find_layers
from keras_crosswise.adapters import adapt

ADAPTABLE = (keras.layers.Dense, keras.layers.EinsumDense)


class DenseVeRA(keras.layers.Layer):
    """`act(W x + b_vec * (B (d * (A x))) + bias)` on a frozen Dense: A `(n, r)`
    and B `(r, units)` frozen random (Kaiming uniform), d `(r,)` at 0.1 and
    b_vec `(units,)` at zero learned (VeRA's initialisation)."""

    def __init__(self, dense, rank, seed, **kwargs):
        super().__init__(name=dense.name, dtype=dense.dtype_policy, **kwargs)
        self.dense, self.rank = dense, rank
        rng = np.random.default_rng(seed)
        n, units = dense.kernel.shape
        bound_a, bound_b = np.sqrt(6 / n), np.sqrt(6 / rank)
        self.frozen_a = self.add_weight(
            name="vera_a",
            shape=(n, rank),
            initializer=keras.initializers.Constant(
                rng.uniform(-bound_a, bound_a, (n, rank))
            ),
            trainable=False,
        )
        self.frozen_b = self.add_weight(
            name="vera_b",
            shape=(rank, units),
            initializer=keras.initializers.Constant(
                rng.uniform(-bound_b, bound_b, (rank, units))
            ),
            trainable=False,
        )
        self.vera_d = self.add_weight(
            name="vera_d", shape=(rank,), initializer=keras.initializers.Constant(0.1)
        )
        self.vera_b = self.add_weight(
            name="vera_b_vec", shape=(units,), initializer="zeros"
        )
        self.built = True

    def call(self, x):
        dense = self.dense
        delta = keras.ops.matmul(
            keras.ops.matmul(x, self.frozen_a) * self.vera_d, self.frozen_b
        )
        y = keras.ops.matmul(x, dense.kernel) + self.vera_b * delta
        if dense.bias is not None:
            y = y + dense.bias
        return dense.activation(y) if dense.activation is not None else y


def body_layers(model, head_name, types=ADAPTABLE):
    """The adaptable layers of the body (everything but the head)."""
    return find_layers(
        model, lambda layer: isinstance(layer, types) and layer.name != head_name
    )


def _train_only(model, allowed):
    for weight in model.weights:
        weight.trainable = any(weight is a for a in allowed)
    return model


def prepare(model, method, head_name, seed):
    """A copy of `model` set up for `method`."""
    head = lambda m: m.get_layer(head_name).weights  # noqa: E731
    if method in ("cz", "cz_bias", "fastfood", "ia3"):
        return adapt(
            copy_with_swaps(model, {}),  # adapt works in place: on a copy
            kind=method,
            # (IA)³ on its own targets (peft's: keys, values, feed-forward
            # outputs) where the model holds a keras-hub backbone.
            layers=None if method == "ia3" else lambda layer: layer.name != head_name,
            train=[head_name],
            seed=seed,
        )
    if method == "vera":
        denses = body_layers(model, head_name, (keras.layers.Dense,))
        rank = max(int(d.kernel.shape[0]) for d in denses)
        swaps = {
            id(d): DenseVeRA(copy_layer(d), rank, seed + i)
            for i, d in enumerate(denses)
        }
        copy = copy_with_swaps(model, swaps)
        allowed = [w for s in swaps.values() for w in (s.vera_d, s.vera_b)]
        return _train_only(copy, allowed + head(copy))
    copy = copy_with_swaps(model, {})
    if method == "full":
        return _train_only(copy, copy.weights)
    if method == "head":
        return _train_only(copy, head(copy))
    if method == "bitfit":
        biases = [w for w in copy.weights if w.path.endswith("bias")]
        return _train_only(copy, biases + head(copy))
    if method.startswith("lora"):
        rank = int(method[4:].split("+")[0])
        allowed = head(copy)
        for layer in body_layers(copy, head_name):
            layer.enable_lora(rank)
            allowed += [layer.lora_kernel_a, layer.lora_kernel_b]
            if method.endswith("+bias") and layer.bias is not None:
                allowed.append(layer.bias)
        return _train_only(copy, allowed)
    raise ValueError(f"unknown method {method!r}")


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training batch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._began = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._began)


def compile_and_fit(model, train, learning_rate, epochs, batch_size):
    """Adam on sparse logits; returns (fit seconds, median step ms after the
    first epoch's steps, which hold the compilation)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    timer = StepTimer()
    start = time.perf_counter()
    model.fit(
        *train, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[timer]
    )
    seconds = time.perf_counter() - start
    per_epoch = -(-len(train[1]) // batch_size)
    later = timer.seconds[per_epoch:] or timer.seconds
    return seconds, 1000 * statistics.median(later)


def paired_calls(methods, ours, others):
    """Each of `ours` against each of `others` that is BitFit or has at least
    its trainable parameters: mean paired difference over seeds (points) and
    win/tie/loss beyond its std. `methods[m]` holds `trainable` and a list
    `accuracy` (per seed)."""
    rows = []
    for mine_name in ours:
        mine = methods[mine_name]
        for other in others:
            theirs = methods[other]
            if other != "bitfit" and theirs["trainable"] < mine["trainable"]:
                continue
            count = min(len(mine["accuracy"]), len(theirs["accuracy"]))
            gaps = 100 * (
                np.array(mine["accuracy"][:count])
                - np.array(theirs["accuracy"][:count])
            )
            mean, spread = float(gaps.mean()), float(gaps.std())
            call = "win" if mean > spread else "loss" if mean < -spread else "tie"
            rows.append([mine_name, other, f"{mean:+.1f} ± {spread:.1f}", call])
    return rows


def _lora_targets(model):
    """keras-hub's LoRA targets inside `model`: the layers its backbone's
    `enable_lora` takes (`default_lora_layer_names()`: query and value)."""
    backbone = next(
        layer
        for layer in [model, *find_layers(model, lambda layer: True)]
        if callable(getattr(layer, "default_lora_layer_names", None))
    )
    names = set(backbone.default_lora_layer_names())
    return find_layers(backbone, lambda layer: layer.name in names)


class VeRA(keras.layers.Layer):
    """VeRA (Kopiczko et al. 2024) on a frozen, activation-free Dense or
    EinsumDense `layer` whose kernel maps its input's last axis, of size n,
    to an output of `units` numbers (flattened): `layer(x) + b * (B (d * (A
    x)))`, A `(n, r)` and B `(r, units)` frozen random (Kaiming uniform), d
    `(r,)` at 0.1 and b `(units,)` at zero learned."""

    def __init__(self, layer, rank, seed, **kwargs):
        super().__init__(name=layer.name, dtype=layer.dtype_policy, **kwargs)
        kernel_shape = tuple(layer.kernel.shape)
        self.layer, self.out_shape = layer, kernel_shape[1:]
        n, units = kernel_shape[0], int(np.prod(kernel_shape[1:]))
        rng = np.random.default_rng(seed)
        bound_a, bound_b = np.sqrt(6 / n), np.sqrt(6 / rank)
        self.frozen_a = self._constant(
            "vera_a", rng.uniform(-bound_a, bound_a, (n, rank))
        )
        self.frozen_b = self._constant(
            "vera_b", rng.uniform(-bound_b, bound_b, (rank, units))
        )
        self.vera_d = self.add_weight(
            name="vera_d", shape=(rank,), initializer=keras.initializers.Constant(0.1)
        )
        self.vera_b = self.add_weight(
            name="vera_b_vec", shape=(units,), initializer="zeros"
        )
        self.built = True

    def _constant(self, name, value):
        return self.add_weight(
            name=name,
            shape=value.shape,
            initializer=keras.initializers.Constant(value),
            trainable=False,
        )

    def call(self, x):
        ops = keras.ops
        delta = ops.matmul(ops.matmul(x, self.frozen_a) * self.vera_d, self.frozen_b)
        delta = ops.reshape(self.vera_b * delta, (*ops.shape(x)[:-1], *self.out_shape))
        return self.layer(x) + delta


def _count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def prepare_pretrained(model, method, head_name, seed):
    """`model` (a classifier holding a keras-hub backbone and a new head
    `head_name`) set up in place for `method`, every method on keras-hub's
    default targets: `(model, trainable weights without the head)`.

    `head`, `bitfit` (every bias), `full`; our kinds through `adapt` on its
    defaults (query and value; `ia3`: keys, values, feed-forward outputs);
    `vera` (rank 384) on the query and value projections; `lora{r}` through
    the backbone's own `enable_lora(r)`."""
    from keras_crosswise._surgery import replace_in_place

    head = model.get_layer(head_name)
    if method in ("cz", "cz_bias", "fastfood", "ia3"):
        adapt(model, kind=method, train=[head_name], seed=seed)
    elif method == "vera":
        for i, layer in enumerate(_lora_targets(model)):
            replace_in_place(model, layer, VeRA(layer, 384, seed + i))
        allowed = [
            w for w in model.weights if "vera_d" in w.path or "vera_b_vec" in w.path
        ]
        _train_only(model, allowed + head.weights)
    elif method.startswith("lora"):
        backbone = next(
            layer for layer in model.layers if hasattr(layer, "enable_lora")
        )
        backbone.enable_lora(int(method[4:]))
    elif method == "bitfit":
        biases = [w for w in model.weights if w.path.endswith("bias")]
        _train_only(model, biases + head.weights)
    elif method == "head":
        _train_only(model, head.weights)
    elif method == "full":
        _train_only(model, model.weights)
    else:
        raise ValueError(f"unknown method {method!r}")
    head_ids = {id(w) for w in head.weights}
    body = [w for w in model.trainable_weights if id(w) not in head_ids]
    return model, _count(body)
