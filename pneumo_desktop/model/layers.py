"""Custom Keras layers saved inside model files (registered so bundles load anywhere)."""

from __future__ import annotations

import keras
from keras import ops

from pneumo_desktop.imaging.regions import BANDS


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


# Bands of a frontal film where no lung lies: top, bottom, left, right (`imaging.regions`).
THORAX_BANDS = tuple(BANDS[side] for side in ("top", "bottom", "left", "right"))


def thorax_cell_weights(height: int, width: int, bands=THORAX_BANDS):
    """(height, width) share of each cell of a feature map that lies inside the thorax box."""
    import numpy as np

    top, bottom, left, right = bands

    def overlap(n: int, start: float, stop: float) -> np.ndarray:
        edges = np.arange(n + 1) / n
        return np.clip(np.minimum(edges[1:], stop) - np.maximum(edges[:-1], start), 0, None) * n

    return np.outer(overlap(height, top, 1 - bottom), overlap(width, left, 1 - right))


@keras.saving.register_keras_serializable(package="pneumo")
class ThoraxPrior(keras.layers.Layer):
    """Weight each cell of a feature map by its share inside the thorax box (no weights to
    learn). Before global average pooling it keeps the evidence of the bands where no lung lies
    (neck, shoulders, markers, labels) out of the score, and the class activation map stays
    exact: it is zero there."""

    def __init__(self, bands=THORAX_BANDS, **kwargs):
        super().__init__(**kwargs)
        self.bands = tuple(float(b) for b in bands)

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        weights = thorax_cell_weights(height, width, self.bands).astype("float32")
        return inputs * ops.cast(ops.reshape(weights, (1, height, width, 1)), inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "bands": list(self.bands)}
