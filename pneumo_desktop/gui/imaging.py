"""numpy arrays <-> QImage, display look-up tables and heat-map layers (no Qt widgets here)."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QImage

from pneumo_desktop.model.heatmaps import colorize

#: Longest side of the heat-map layer; the map is smooth, so more pixels add nothing visible.
HEAT_MAX_SIDE = 1024


def gray_to_qimage(pixels: np.ndarray) -> QImage:
    """uint8 (h, w) -> an independent Grayscale8 QImage."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = pixels.shape
    return QImage(pixels.data, w, h, pixels.strides[0], QImage.Format.Format_Grayscale8).copy()


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """uint8 (h, w, 3) RGB -> an independent RGB888 QImage."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """uint8 (h, w, 4) straight-alpha RGBA -> an independent RGBA8888 QImage."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w, _ = rgba.shape
    return QImage(rgba.data, w, h, rgba.strides[0], QImage.Format.Format_RGBA8888).copy()


def display_lut(window: float, level: float, inverted: bool = False) -> np.ndarray:
    """The 256-entry uint8 table mapping stored grey values to screen values for a window
    width / level (centre) on the 0..255 display scale (DICOM linear window: 256 / 128 is the
    identity)."""
    window = max(2.0, float(window))
    values = np.arange(256, dtype=np.float32)
    lut = ((values - (level - 0.5)) / (window - 1.0) + 0.5) * 255.0
    lut = np.clip(np.rint(lut), 0, 255).astype(np.uint8)
    return 255 - lut if inverted else lut


def apply_lut(pixels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    return cv2.LUT(pixels, lut)


def heat_layer(heatmap: np.ndarray, max_side: int = HEAT_MAX_SIDE) -> np.ndarray:
    """0..1 heat map -> RGBA uint8 with the core's colours; weak activations transparent.

    The alpha ramp matches `model.heatmaps.overlay`, so the screen and exported overlays agree.
    The layer is at most `max_side` pixels long; the viewer stretches it onto the image.
    """
    heat = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    h, w = heat.shape
    scale = max_side / max(h, w)
    if scale < 1.0:
        heat = cv2.resize(heat, (max(1, round(w * scale)), max(1, round(h * scale))),
                          interpolation=cv2.INTER_AREA)
    rgba = np.empty((*heat.shape, 4), np.uint8)
    rgba[:, :, :3] = colorize(heat)
    rgba[:, :, 3] = np.rint(heat_alpha(heat) * 255).astype(np.uint8)
    return rgba


def heat_alpha(heat: np.ndarray) -> np.ndarray:
    """Per-pixel opacity of the heat map, 0..1: weak activations stay clear (as in the core's
    `overlay`)."""
    return np.clip(heat * 1.5 - 0.2, 0.0, 1.0)


def legend_qimage(width: int = 256, height: int = 1, background: int = 128) -> QImage:
    """The heat-map colour scale, low (left) to high (right), drawn as it appears over a grey
    image: the weakest values leave the image uncoloured."""
    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))
    alpha = heat_alpha(ramp)[:, :, None]
    rgb = colorize(ramp).astype(np.float32) * alpha + background * (1.0 - alpha)
    return rgb_to_qimage(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))


def fit_within(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink a (h, w[, c]) image so its longer side is at most `max_side`."""
    h, w = pixels.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return pixels
    return cv2.resize(pixels, (max(1, round(w * scale)), max(1, round(h * scale))),
                      interpolation=cv2.INTER_AREA)
