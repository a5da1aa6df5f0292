"""The teacher's own inputs to the chosen Dense layers, recorded by running a
copy of the teacher whose chosen layers are wrapped in recorders."""

import keras
import numpy as np

from keras_crosswise._surgery import copy_with_swaps


class _InputRecorder(keras.layers.Layer):
    """Computes `layer` and, while `recording`, keeps its (eager) inputs."""

    def __init__(self, layer):
        super().__init__(name=layer.name, dtype=layer.dtype_policy)
        self.layer, self.recording, self.seen = layer, False, []

    def call(self, inputs):
        if self.recording:
            self.seen.append(np.asarray(keras.ops.convert_to_numpy(inputs)))
        return self.layer(inputs)

    def compute_output_spec(self, inputs):
        return self.layer.compute_output_spec(inputs)


def layer_inputs(model, chosen, sample, batch_size):
    """The teacher's inputs to each chosen layer on `sample`, as a list of
    arrays: a copy of the teacher with each chosen layer wrapped in a
    recorder runs eagerly, batch by batch (the layers may sit anywhere)."""
    recorders = {id(dense): _InputRecorder(dense) for dense in chosen}
    probe = copy_with_swaps(model, recorders)
    for recorder in recorders.values():
        recorder.recording = True
    rows = len(keras.tree.flatten(sample)[0])
    for start in range(0, rows, batch_size):
        rows_of = slice(start, start + batch_size)
        probe(keras.tree.map_structure(lambda a, rows_of=rows_of: a[rows_of], sample))
    return [np.concatenate(recorders[id(dense)].seen) for dense in chosen]
