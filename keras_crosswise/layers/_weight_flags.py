"""Layers whose weights carry their own `trainable` flags."""

import keras


class PerWeightTrainable:
    """Mixin for a Keras layer whose weights each keep a `trainable` flag,
    set by the layer's `_apply_weight_flags()` (fixed random draws stay
    fixed, frozen kernels stay frozen).

    Keras's `trainable` setter, which `model.trainable = True` reaches too,
    marks every weight of the layer trainable: this one re-applies the
    layer's own flags after it, once the layer is built. `trainable = False`
    still freezes every weight.
    """

    def _apply_weight_flags(self):
        raise NotImplementedError

    @property
    def trainable(self):
        return keras.layers.Layer.trainable.fget(self)

    @trainable.setter
    def trainable(self, value):
        keras.layers.Layer.trainable.fset(self, value)
        if getattr(self, "built", False):
            self._apply_weight_flags()
