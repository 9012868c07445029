"""Films as another hospital's machines might give them: single named shifts, and a fixed
"shifted split" (each film gets two shifts drawn once, from a seed) to judge whether a training
change transfers beyond the home hospital's look (issue 10).

The shifts: exposure, contrast, gamma, blur, resolution loss, noise, CLAHE, histogram
equalisation, a black border, a tighter crop, a small rotation, and burned-in labels (a side
marker and a text strip, as portable films carry).
"""

from __future__ import annotations

import cv2
import numpy as np

SHIFTS = ("as is", "gamma0.6", "gamma1.6", "contrast0.7", "contrast1.3", "blur",
          "resolution / 4", "noise", "CLAHE", "histogram equalised", "black border 8 %",
          "crop 85 %", "rotated 10°")
#: the pool the shifted split draws from (each film: two different shifts)
SPLIT_SHIFTS = ("exposure-", "exposure+", "gamma0.6", "gamma1.6", "contrast0.7", "contrast1.3",
                "blur", "resolution / 4", "noise", "CLAHE", "black border 8 %", "crop 85 %",
                "labels")


def _labels(x: np.ndarray) -> np.ndarray:
    """A bright side marker in the top corner and a text strip along the bottom edge."""
    h, w = x.shape
    out = np.clip(np.rint(x), 0, 255).astype(np.uint8)  # OpenCV draws text on 8-bit images
    scale = max(h, w) / 600
    cv2.putText(out, "R", (int(0.04 * w), int(0.1 * h)), cv2.FONT_HERSHEY_SIMPLEX, 2.0 * scale,
                255, max(1, int(4 * scale)))
    cv2.putText(out, "PORTABLE  AP  SUPINE", (int(0.2 * w), int(0.96 * h)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.9 * scale, 230, max(1, int(2 * scale)))
    return out.astype(np.float32)


def shifted(pixels: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """`pixels` (uint8 grey) as shift `name` changes them; uint8, the same size except for
    "black border 8 %" (larger) and "crop 85 %" (smaller)."""
    h, w = pixels.shape
    x = pixels.astype(np.float32)
    if name.startswith("gamma"):
        x = 255.0 * (x / 255.0) ** float(name[5:])
    elif name.startswith("contrast"):
        x = (x - x.mean()) * float(name[8:]) + x.mean()
    elif name == "exposure-":
        x = x * 0.8
    elif name == "exposure+":
        x = x * 0.85 + 40.0
    elif name == "blur":
        x = cv2.GaussianBlur(x, (0, 0), 0.004 * max(h, w))
    elif name == "resolution / 4":
        x = cv2.resize(cv2.resize(x, (w // 4, h // 4), interpolation=cv2.INTER_AREA), (w, h))
    elif name == "noise":
        x = x + np.random.default_rng(seed).normal(0, 8, x.shape)
    elif name == "CLAHE":
        x = cv2.createCLAHE(2.0, (8, 8)).apply(pixels).astype(np.float32)
    elif name == "histogram equalised":
        x = cv2.equalizeHist(pixels).astype(np.float32)
    elif name == "black border 8 %":
        x = cv2.copyMakeBorder(x, h // 12, h // 12, w // 12, w // 12, cv2.BORDER_CONSTANT,
                               value=0)
    elif name == "crop 85 %":
        x = x[int(0.075 * h):int(0.925 * h), int(0.075 * w):int(0.925 * w)]
    elif name == "rotated 10°":
        x = cv2.warpAffine(x, cv2.getRotationMatrix2D((w / 2, h / 2), 10, 1), (w, h))
    elif name == "labels":
        x = _labels(x)
    elif name != "as is":
        raise ValueError(f"unknown shift {name!r}")
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def split_shifts(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """The two shifts each of `n` films gets in the shifted split (fixed by `seed`)."""
    rng = np.random.default_rng(seed)
    return [tuple(SPLIT_SHIFTS[i] for i in rng.choice(len(SPLIT_SHIFTS), 2, replace=False))
            for _ in range(n)]


def shifted_split(films: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Each film with its two shifts applied in order (see `split_shifts`)."""
    out = []
    for index, (film, names) in enumerate(zip(films, split_shifts(len(films), seed),
                                              strict=True)):
        for name in names:
            film = shifted(film, name, seed=seed + index)
        out.append(film)
    return out
