"""Class activation maps, Grad-CAM, and coloured overlays.

For a global-average-pooling -> dense(1) head, Grad-CAM of the logit equals the class
activation map up to a positive factor: d logit / dA_k(i,j) = w_k / (H W) everywhere, so
alpha_k = w_k / (H W) and ReLU(sum_k alpha_k A_k) = ReLU(CAM) / (H W). After normalising to
0..1 the two maps are identical, and the CAM needs no backward pass.
"""

from __future__ import annotations

import cv2
import numpy as np


def class_activation_maps(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, h, w, C) features and (C,) dense weights -> (N, h, w) maps normalised to 0..1."""
    cams = np.tensordot(features, weights.reshape(-1), axes=([3], [0]))
    return normalise_maps(cams)


def normalise_maps(maps: np.ndarray) -> np.ndarray:
    """ReLU, then divide each map by its maximum (all-zero maps stay zero)."""
    maps = np.maximum(np.asarray(maps, dtype=np.float32), 0.0)
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
