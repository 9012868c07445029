"""Training-time augmentation in NumPy and OpenCV (geometric + photometric), any Keras backend.

Every random draw comes from the `numpy.random.Generator` passed in, so a batch is fixed by its
seed. The distributions are those of the tf.data augmenter this replaces (issue 22): rotation
up to ±10.8°, translation up to ±6 % and zoom 0.88-1.12 per image, in one bilinear warp with a
black fill; per image gamma exp(U(-0.4, 0.4)), contrast U(0.75, 1.25) about the mean, blur or
sharpening (one Gaussian sigma U(0.5, 1.5) per batch, 5 × 5, zero padding) on half the images,
Gaussian noise of sd U(0, 0.03); with probability 0.3 the whole batch loses resolution (down to
U(0.5, 1) of its side and back). Every range scales with `strength`.

Horizontal flips are off: the heart is on the left. Photometric changes imitate other
detectors, exposures and resamplings, which is what differs between clinics. Border masking
fills random bands along the edges (where the neck, shoulders, side markers and labels are, and
no lung) with the image's mean grey, so they carry no signal the model could learn instead of
the lungs (issue 10's shortcut). Burned-in marks paint random white or black bars in the top and
bottom bands (where side markers, labels and text sit on real films), with no relation to the
class, so such marks cannot carry it either.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_BAND = 0.15  # border masking: a band is up to this fraction of the side
MARK_BAND = 0.15  # burned-in marks lie within this fraction of the top or bottom edge


def _pixel_centres(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column centres of a (height, width) image as fractions of its sides, 0..1."""
    return ((np.arange(height, dtype=np.float32) + 0.5) / height,
            (np.arange(width, dtype=np.float32) + 0.5) / width)


def border_masks(shape: tuple[int, ...], probability: float, rng: np.random.Generator,
                 max_band: float = MAX_BAND) -> np.ndarray:
    """(B, H, W) float32 masks, 1 where an image keeps its pixels: each of the four sides is
    masked with `probability`, over a band of uniform width up to `max_band` of the side."""
    batch, height, width = shape[:3]
    draws = rng.random((batch, 8), dtype=np.float32)
    on = draws[:, :4] < probability
    widths = draws[:, 4:] * max_band * on  # top, bottom, left, right
    rows, cols = _pixel_centres(height, width)
    keep_rows = (rows[None] >= widths[:, 0:1]) & (rows[None] <= 1 - widths[:, 1:2])
    keep_cols = (cols[None] >= widths[:, 2:3]) & (cols[None] <= 1 - widths[:, 3:4])
    return (keep_rows[:, :, None] & keep_cols[:, None, :]).astype(np.float32)


def mask_borders_randomly(x: np.ndarray, probability: float, rng: np.random.Generator,
                          max_band: float = MAX_BAND) -> np.ndarray:
    """Images (B, H, W) with random border bands filled with each image's mean."""
    keep = border_masks(x.shape, probability, rng, max_band)
    mean = x.mean(axis=(1, 2), keepdims=True, dtype=np.float32)
    return x * keep + mean * (1.0 - keep)


def mark_masks(shape: tuple[int, ...], probability: float,
               rng: np.random.Generator) -> np.ndarray:
    """(B, H, W) float32 masks, 1 on a burned-in mark: with `probability` an image gets one
    bar (2-6 % of the side high, 3-25 % wide) inside the top or the bottom `MARK_BAND`."""
    batch, height, width = shape[:3]
    u = rng.random((batch, 6), dtype=np.float32)
    on = u[:, 0:1] < probability
    bar_h, bar_w = 0.02 + 0.04 * u[:, 1:2], 0.03 + 0.22 * u[:, 2:3]
    top = u[:, 3:4] * (MARK_BAND - bar_h)
    top = np.where(u[:, 4:5] < 0.5, top, 1.0 - MARK_BAND + top)  # top or bottom band
    left = u[:, 5:6] * (1.0 - bar_w)
    rows, cols = _pixel_centres(height, width)
    in_rows = on & (rows[None] >= top) & (rows[None] <= top + bar_h)
    in_cols = (cols[None] >= left) & (cols[None] <= left + bar_w)
    return (in_rows[:, :, None] & in_cols[:, None, :]).astype(np.float32)


def burn_in_marks(x: np.ndarray, probability: float, rng: np.random.Generator) -> np.ndarray:
    """Images (B, H, W), 0..255, with random bars burned in: white (255) four times in five,
    else black (0)."""
    marks = mark_masks(x.shape, probability, rng)
    value = np.where(rng.random((len(x), 1, 1)) < 0.8, 255.0, 0.0).astype(np.float32)
    return x * (1.0 - marks) + value * marks


def affine_warp(image: np.ndarray, angle: float, shift: tuple[float, float],
                zoom: float) -> np.ndarray:
    """`image` (H, W) rotated by `angle` radians about its centre, shifted by (dy, dx) pixels
    and zoomed by `zoom` (> 1: zoomed out, the film looks smaller), one bilinear warp, black
    outside (as Keras's RandomRotation, RandomTranslation and RandomZoom in a row)."""
    height, width = image.shape
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    cos, sin = np.cos(angle), np.sin(angle)
    linear = zoom * np.array([[cos, -sin], [sin, cos]])  # output -> input, about the centre
    offset = centre - linear @ (centre + np.array([shift[1], shift[0]]))
    matrix = np.hstack([linear, offset[:, None]]).astype(np.float64)
    return cv2.warpAffine(image, matrix, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """The 5 × 5 Gaussian kernel of `sigma`, summing to 1."""
    ax = np.arange(-2.0, 3.0)
    k = np.exp(-(ax ** 2) / (2.0 * sigma ** 2))
    k /= k.sum()
    return np.outer(k, k).astype(np.float32)


@dataclass(frozen=True)
class Augmenter:
    """Augments a batch: (B, S, S) images 0..255 (uint8 or float) -> (B, S, S) float32 0..255.
    `border_masking`: probability that each side gets a masked band (0: never); `marks`:
    probability that an image gets a burned-in bar (0: never)."""

    image_size: int
    strength: float = 1.0
    border_masking: float = 0.0
    marks: float = 0.0

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = self.photometric(self.geometric(images, rng), rng)
        if self.marks > 0:
            x = burn_in_marks(x, self.marks, rng)
        if self.border_masking > 0:
            x = mask_borders_randomly(x, self.border_masking, rng)
        return x

    def geometric(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per image: rotation U(±0.03 turn), translation U(±6 %) each way, zoom U(0.88, 1.12)."""
        s, batch = self.strength, len(images)
        size = images.shape[1]
        angles = rng.uniform(-0.03 * s, 0.03 * s, batch) * 2 * np.pi
        shifts = rng.uniform(-0.06 * s, 0.06 * s, (batch, 2)) * size
        zooms = 1.0 + rng.uniform(-0.12 * s, 0.12 * s, batch)
        out = np.empty(images.shape, np.float32)
        for i, image in enumerate(images):
            out[i] = affine_warp(image.astype(np.float32, copy=False), angles[i], shifts[i],
                                 zooms[i])
        return out

    def photometric(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Gamma, contrast, blur or sharpening, resolution loss and noise (module docstring)."""
        s, batch, size = self.strength, len(x), self.image_size
        per_image = (batch, 1, 1)
        x = np.clip(x * np.float32(1 / 255), 1e-4, 1.0)
        gamma = np.exp(rng.uniform(-0.4, 0.4, per_image) * s).astype(np.float32)
        x = np.power(x, gamma)
        mean = x.mean(axis=(1, 2), keepdims=True)
        contrast = rng.uniform(1 - 0.25 * s, 1 + 0.25 * s, per_image).astype(np.float32)
        x = (x - mean) * contrast + mean
        kernel = gaussian_kernel(rng.uniform(0.5, 1.5))  # one sigma for the batch
        amount = rng.uniform(-1.0, 1.0, batch) * s  # < 0 sharpen, > 0 blur
        chosen = rng.random(batch) < 0.5
        for i in np.flatnonzero(chosen):
            blurred = cv2.filter2D(x[i], -1, kernel, borderType=cv2.BORDER_CONSTANT)
            x[i] += np.float32(amount[i]) * (blurred - x[i])
        scale = rng.uniform(0.5, 1.0)
        if rng.random() < 0.3:  # the whole batch loses resolution
            small = max(1, int(scale * size))
            for i in range(batch):
                x[i] = cv2.resize(cv2.resize(x[i], (small, small), interpolation=cv2.INTER_AREA),
                                  (size, size), interpolation=cv2.INTER_LINEAR)
        noise_sd = (rng.uniform(0, 0.03, per_image) * s).astype(np.float32)
        x += rng.standard_normal(x.shape, dtype=np.float32) * noise_sd
        return np.clip(x, 0.0, 1.0) * np.float32(255)
