"""A decoded radiograph (`XRayImage`) and the pixel helpers every decoder shares."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pneumo_desktop.errors import ImageLoadError

#: Largest image accepted, in pixels (guards against decompression bombs). Chest detectors
#: produce at most about 4300 x 4300 = 18.5 MP.
MAX_PIXELS = 80_000_000


@dataclass
class XRayImage:
    """A decoded radiograph: bone bright, air dark (MONOCHROME2 sense)."""

    pixels: np.ndarray  # uint8, shape (h, w)
    source_shape: tuple[int, int]  # (h, w) stored in the file, before any reduced decode
    format: str  # "JPEG", "PNG", "TIFF", "BMP" or "DICOM"
    metadata: dict[str, str] = field(default_factory=dict)
    colourfulness: float = 0.0  # share of clearly coloured pixels (0 for grey, also RGB-stored)
    age_years: float | None = None  # patient age from DICOM tags, when they give it


def check_size(name: str, width: int, height: int) -> None:
    """Refuse images above MAX_PIXELS (decompression bombs) before decoding them."""
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            f"{name}: image too large ({width} x {height} pixels; the limit is "
            f"{MAX_PIXELS // 1_000_000} megapixels)"
        )


def to_gray8(pixels: np.ndarray) -> np.ndarray:
    """Any decoded raster (8/16/32-bit, signed, float; gray/BGR/BGRA) -> uint8 grayscale."""
    if pixels.ndim == 3:
        if pixels.shape[2] == 4:
            pixels = pixels[:, :, :3]
        if pixels.shape[2] == 3:
            if pixels.dtype not in (np.uint8, np.uint16, np.float32):  # what OpenCV converts
                pixels = pixels.astype(np.float32)
            pixels = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_BGR2GRAY)
        else:
            pixels = pixels[:, :, 0]
    if pixels.dtype == np.uint8:
        return np.ascontiguousarray(pixels)
    return stretch_to_uint8(pixels.astype(np.float32))


def stretch_to_uint8(values: np.ndarray, low: float | None = None,
                     high: float | None = None) -> np.ndarray:
    """Map [low, high] (default: the data's min and max) linearly onto 0..255."""
    low = float(np.min(values)) if low is None else low
    high = float(np.max(values)) if high is None else high
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
