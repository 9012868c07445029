"""Synthetic chest-like radiographs for the self-test and the test suite (no patient data)."""

from __future__ import annotations

import cv2
import numpy as np


def synthetic_chest(size: int = 512, *, seed: int = 0, opacity: bool = False,
                    width: int | None = None) -> np.ndarray:
    """A uint8 image: bright body, two dark lungs, a spine; `opacity` adds a bright patch in a lung
    (a crude stand-in for consolidation)."""
    rng = np.random.default_rng(seed)
    h, w = size, width or size
    img = np.full((h, w), 40, np.float32)
    cv2.ellipse(img, (w // 2, h // 2), (int(w * 0.45), int(h * 0.47)), 0, 0, 360, 170, -1)
    for side in (-1, 1):
        center = (w // 2 + side * int(w * 0.2), int(h * 0.48))
        axes = (int(w * 0.14), int(h * 0.3))
        cv2.ellipse(img, center, axes, 0, 0, 360, 60 + rng.uniform(-10, 10), -1)
    cv2.rectangle(img, (w // 2 - w // 30, 0), (w // 2 + w // 30, h), 210, -1)
    if opacity:
        side = rng.choice((-1, 1))
        center = (w // 2 + side * int(w * 0.2), int(h * rng.uniform(0.4, 0.65)))
        cv2.circle(img, center, int(min(h, w) * rng.uniform(0.07, 0.11)), 190, -1)
    img = cv2.GaussianBlur(img, (0, 0), max(1.0, size / 200))
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)
