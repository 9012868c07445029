"""Does the model look at the chest? Heat-map focus and the cost of masking the borders.

Lung fields are approximated by the thorax box of `imaging.regions` (a documented
approximation, not a segmentation: heat outside it is certainly not on the lungs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pneumo_desktop.evaluation import metrics
from pneumo_desktop.imaging.regions import BANDS, mask_borders, thorax_box, top_band
from pneumo_desktop.model.heatmaps import resize_map


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

    return {"lung_fields": "thorax box approximation (see evaluation.shortcuts)",
            "thorax_box_area": float(thorax_box((size, size)).mean()),
            "top_band_area": BANDS["top"], "overall": summary(np.ones(len(labels), bool)),
            "pneumonia": summary(labels), "normal": summary(~labels)}


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
