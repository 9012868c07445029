"""Custom Keras layers saved inside model files (registered so bundles load anywhere)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="pneumo")
class PerImageStandardization(keras.layers.Layer):
    """Scale each image to zero mean and unit variance: exposure- and bit-depth-invariant."""

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        mean = ops.mean(inputs, axis=(1, 2, 3), keepdims=True)
        std = ops.std(inputs, axis=(1, 2, 3), keepdims=True)
        return (inputs - mean) / ops.maximum(std, self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}
