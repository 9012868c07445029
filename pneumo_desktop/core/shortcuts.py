"""Does the model look at the chest? Heat-map focus and the cost of masking the borders.

Lung fields are approximated by the *thorax box*: the image without its outer bands (top 12 %,
bottom 8 %, left and right 10 %), where no lung lies on a frontal film (the same bands as the
hidden-set audit in issue 10). It covers 64 % of the image. It is a documented approximation,
not a segmentation: on the films checked by eye it holds both lungs whole, with the mediastinum,
part of the heart and the upper abdomen; so a model may keep all its heat inside the box and
still not look at the lungs, but heat outside it is certainly not on the lungs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pneumo_desktop.core import metrics
from pneumo_desktop.core.heatmaps import resize_map

BANDS = {"top": 0.12, "bottom": 0.08, "left": 0.10, "right": 0.10}


def thorax_box(shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask (h, w): True inside the thorax box."""
    h, w = shape
    mask = np.zeros((h, w), bool)
    mask[round(BANDS["top"] * h):h - round(BANDS["bottom"] * h),
         round(BANDS["left"] * w):w - round(BANDS["right"] * w)] = True
    return mask


def top_band(shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the top band (neck, shoulders, side markers, labels)."""
    mask = np.zeros(shape, bool)
    mask[:round(BANDS["top"] * shape[0])] = True
    return mask


def mass_share(heatmaps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Share of each heat map's mass (N, h, w) inside `mask` (h, w); NaN for an empty map."""
    maps = np.maximum(np.asarray(heatmaps, np.float64), 0.0)
    total = maps.sum(axis=(1, 2))
    inside = (maps * mask).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.full(len(maps), np.nan), where=total > 0)


def heatmap_focus(cams: np.ndarray, labels: np.ndarray, size: int) -> dict[str, Any]:
    """Heat-map mass inside the thorax box and in the top band, overall and per class."""
    maps = np.stack([resize_map(cam, (size, size)) for cam in cams]) if len(cams) else \
        np.zeros((0, size, size))
    inside = mass_share(maps, thorax_box((size, size)))
    top = mass_share(maps, top_band((size, size)))
    labels = np.asarray(labels, bool)

    def summary(select: np.ndarray) -> dict[str, float]:
        return {"inside_thorax_box": float(np.nanmean(inside[select])) if select.any() else
                float("nan"),
                "top_band": float(np.nanmean(top[select])) if select.any() else float("nan")}

    return {"lung_fields": "thorax box approximation (see core.shortcuts)",
            "thorax_box_area": float(thorax_box((size, size)).mean()),
            "top_band_area": BANDS["top"], "overall": summary(np.ones(len(labels), bool)),
            "pneumonia": summary(labels), "normal": summary(~labels)}


def mask_borders(inputs: np.ndarray) -> np.ndarray:
    """Model inputs (N, S, S, 1) with the bands outside the thorax box filled with each
    image's median grey."""
    out = np.array(inputs, np.float32, copy=True)
    outside = ~thorax_box(out.shape[1:3])
    for image in out:
        image[outside] = np.median(image)
    return out


def border_masking(probabilities: np.ndarray, masked: np.ndarray, labels: np.ndarray,
                   threshold: float) -> dict[str, float]:
    """How much the scores depend on the borders: AUC before and after masking them, the mean
    change of probability and the share of decisions that flip."""
    probabilities, masked = np.asarray(probabilities), np.asarray(masked)
    auc, auc_masked = metrics.roc_auc(labels, probabilities), metrics.roc_auc(labels, masked)
    return {"auc": auc, "auc_masked": auc_masked, "auc_drop": auc - auc_masked,
            "mean_probability_change": float(np.mean(np.abs(masked - probabilities))),
            "flipped_decisions": float(np.mean((masked >= threshold) !=
                                               (probabilities >= threshold))),
            "specificity_masked": metrics.report(labels, masked, threshold)["specificity"]}


def shortcut_report(predictor, inputs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """`heatmap_focus` and `border_masking` for prepared inputs (N, S, S, 1)."""
    probs, cams = predictor.predict_inputs(inputs)
    masked, _ = predictor.predict_inputs(mask_borders(inputs))
    return {"heatmap_focus": heatmap_focus(cams, labels, predictor.size),
            "border_masking": border_masking(probs, masked, labels, predictor.threshold)}
