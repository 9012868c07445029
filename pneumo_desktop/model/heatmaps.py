"""Class activation maps, Grad-CAM, one heat-map scale for every film, and coloured overlays.

For a global-average-pooling -> dense(1) head, Grad-CAM of the logit equals the class
activation map up to a positive factor: d logit / dA_k(i,j) = w_k / (H W) everywhere, so
alpha_k = w_k / (H W) and ReLU(sum_k alpha_k A_k) = ReLU(CAM) / (H W). After normalising to
0..1 the two maps are identical, and the CAM needs no backward pass.

**Evidence** (`evidence_maps`): the CAM before any normalisation, in the model's own units. Cell
(i, j) adds evidence(i, j) / (H W) to the logit, and the logit is the bias plus the mean of the
map, so the map is a film's logit spread over its cells. **One scale** (`HeatScale`): colour
is evidence / `red`, clipped to 0..1, where `red` is fixed per model (the 90th percentile of
cell evidence on the validation films the model flags): the same colour means the same
evidence on every film, and a film with no strong evidence stays uncoloured. Per-film
normalised maps (`relative_maps`) remain for the user who asks, labelled as relative.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

#: Below this probability no map is shown by default: no region raised the score.
SHOW_FROM_PROBABILITY = 0.10
#: Which cells of the flagged validation films set the top of the scale (percentile).
RED_PERCENTILE = 90.0


@dataclass(frozen=True)
class HeatScale:
    """The model's fixed heat-map scale, stored in its card (`heatmap`)."""

    red: float  # evidence (logit units x cells) drawn at the top of the colour bar
    show_from: float = SHOW_FROM_PROBABILITY  # no map by default below this probability
    source: str = ""  # how `red` was measured, for the card and the legend's tooltip

    @classmethod
    def from_card(cls, section: dict[str, Any] | None) -> HeatScale | None:
        """The card's `heatmap` section; None for a bundle made before it existed."""
        if not section or not float(section.get("red", 0)) > 0:
            return None
        return cls(float(section["red"]), float(section.get("show_from",
                                                            SHOW_FROM_PROBABILITY)),
                   str(section.get("source", "")))

    def to_card(self) -> dict[str, Any]:
        return {**asdict(self), "unit": "class activation in logit units (cell evidence)",
                "red_percentile": RED_PERCENTILE}

    def rescaled(self, factor: float) -> HeatScale:
        """The same scale after the logit layer's weights were multiplied by `factor` (Platt
        or temperature calibration folded into the model scales the evidence alike)."""
        return HeatScale(self.red * abs(float(factor)), self.show_from, self.source)

    def shown(self, probability: float) -> bool:
        """Whether a film at this probability gets a map by default."""
        return probability >= self.show_from


def fit_heat_scale(evidence: np.ndarray, flagged: np.ndarray, source: str,
                   show_from: float = SHOW_FROM_PROBABILITY) -> HeatScale | None:
    """`red` = the RED_PERCENTILE of cell evidence over the flagged films (N, h, w); None when
    no film is flagged or no evidence is positive."""
    cells = np.asarray(evidence, np.float64)[np.asarray(flagged, bool)]
    if cells.size == 0:
        return None
    red = float(np.percentile(cells, RED_PERCENTILE))
    return HeatScale(red, show_from, source) if red > 0 else None


def evidence_maps(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, h, w, C) features and (C,) dense weights -> (N, h, w) evidence in logit units."""
    return np.tensordot(np.asarray(features, np.float32), weights.reshape(-1).astype(np.float32),
                        axes=([3], [0]))


def absolute_maps(evidence: np.ndarray, scale: HeatScale) -> np.ndarray:
    """Evidence on the model's fixed scale: 0 (none or against) .. 1 (`scale.red` or more)."""
    return np.clip(np.asarray(evidence, np.float32) / np.float32(scale.red), 0.0, 1.0)


def relative_maps(evidence: np.ndarray) -> np.ndarray:
    """Each film's positive evidence divided by its own peak: where this film's evidence is,
    whatever its strength (labelled relative wherever shown)."""
    return normalise_maps(evidence)


def class_activation_maps(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, h, w, C) features and (C,) dense weights -> (N, h, w) maps normalised to 0..1."""
    return normalise_maps(evidence_maps(features, weights))


def normalise_maps(maps: np.ndarray) -> np.ndarray:
    """ReLU, then divide each map by its maximum (all-zero maps stay zero)."""
    maps = np.maximum(np.asarray(maps, dtype=np.float32), 0.0)
    if not maps.size:
        return maps
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)


def grad_cam(model, images: np.ndarray, features_layer: str, logit_layer: str) -> np.ndarray:
    """Grad-CAM with a GradientTape (TensorFlow backend): works for any head."""
    import keras
    import tensorflow as tf

    probe = keras.Model(model.inputs, [model.get_layer(features_layer).input,
                                       model.get_layer(logit_layer).output])
    with tf.GradientTape() as tape:
        features, logit = probe(tf.convert_to_tensor(images), training=False)
        score = tf.reduce_sum(logit)
    grads = tape.gradient(score, features)
    alphas = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    return normalise_maps(tf.reduce_sum(alphas * features, axis=-1).numpy())


def resize_map(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A low-resolution map stretched smoothly onto an image of `shape` (h, w)."""
    out = cv2.resize(heatmap.astype(np.float32), (shape[1], shape[0]),
                     interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """0..1 map -> RGB uint8 with the JET colour map (blue low, red high)."""
    bgr = cv2.applyColorMap(np.uint8(np.rint(heatmap * 255)), cv2.COLORMAP_JET)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def overlay(gray: np.ndarray, heatmap: np.ndarray, opacity: float = 0.4) -> np.ndarray:
    """Blend a heat map onto a grayscale image -> RGB uint8. Weak activations stay clear."""
    if heatmap.shape != gray.shape:
        heatmap = resize_map(heatmap, gray.shape)
    base = np.repeat(gray[:, :, None], 3, axis=2).astype(np.float32)
    alpha = (opacity * np.clip(heatmap * 1.5 - 0.2, 0, 1))[:, :, None]
    blended = base * (1 - alpha) + colorize(heatmap).astype(np.float32) * alpha
    return np.clip(blended, 0, 255).astype(np.uint8)
