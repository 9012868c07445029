"""Turning a decoded X-ray into the model's input, the same way in training and inference."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

DEFAULT_PREPROCESSING: dict[str, Any] = {
    "resize": "stretch",  # the whole image to S x S, aspect not kept (as the training set)
    "interpolation": "area",
    "equalize": "none",  # or "clahe"
    "input_range": [0, 255],
}

_CLAHE = None


def prepare(pixels: np.ndarray, size: int, spec: dict[str, Any] | None = None) -> np.ndarray:
    """uint8 (h, w) grayscale -> float32 (size, size, 1) in 0..255."""
    spec = spec or DEFAULT_PREPROCESSING
    if pixels.shape != (size, size):
        shrinking = pixels.shape[0] >= size and pixels.shape[1] >= size
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        pixels = cv2.resize(pixels, (size, size), interpolation=interp)
    if spec.get("equalize") == "clahe":
        pixels = clahe(pixels)
    return pixels.astype(np.float32)[:, :, None]


def clahe(pixels: np.ndarray) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (8 x 8 tiles, clip 2)."""
    global _CLAHE
    if _CLAHE is None:
        _CLAHE = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return _CLAHE.apply(pixels)
