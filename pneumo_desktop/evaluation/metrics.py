"""Classification metrics in plain NumPy: ROC/AUC, operating points, calibration."""

from __future__ import annotations

from typing import Any

import numpy as np

from pneumo_desktop.model.logits import sigmoid  # noqa: F401  (metrics.sigmoid for callers)


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rates, true-positive rates and thresholds (descending), ties merged."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tps = np.cumsum(labels)[distinct]
    fps = (distinct + 1) - tps
    positives, negatives = max(labels.sum(), 1), max((~labels).sum(), 1)
    tpr = np.r_[0.0, tps / positives]
    fpr = np.r_[0.0, fps / negatives]
    thresholds = np.r_[np.inf, scores[distinct]]
    return fpr, tpr, thresholds


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (trapezoidal over distinct thresholds; ties count half)."""
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def threshold_for_sensitivity(labels: np.ndarray, scores: np.ndarray, target: float,
                              confidence: float | None = None) -> float:
    """The highest threshold whose sensitivity (score >= threshold) reaches `target`.

    With `confidence` (e.g. 0.95), the one-sided Wilson lower bound of the sensitivity must reach
    the target instead: a margin for the sampling error of a finite validation set, so the
    target still holds on new patients.
    """
    positives = np.sort(np.asarray(scores, dtype=np.float64)[np.asarray(labels, dtype=bool)])
    n = len(positives)
    if n == 0:
        return 0.5
    if confidence is None:
        # k positives may fall below the threshold while keeping sensitivity >= target
        k = int(np.floor((1.0 - target) * n + 1e-9))
    else:
        k = 0
        while k + 1 < n and wilson_lower_bound(n - k - 1, n, confidence) >= target:
            k += 1
    return float(np.clip(positives[k], 1e-6, 1 - 1e-6))


def wilson_lower_bound(successes: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Wilson score lower bound of a proportion."""
    from statistics import NormalDist

    if n == 0:
        return 0.0
    z = NormalDist().inv_cdf(confidence)
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float((centre - margin) / (1 + z * z / n))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> list[float]:
    """Two-sided Wilson score interval [low, high] of a proportion."""
    from statistics import NormalDist

    if n == 0:
        return [0.0, 1.0]
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    margin = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # the bounds hold the observed proportion exactly (0 or 1 included, whatever the rounding)
    return [float(min(p, max(0.0, centre - margin))), float(max(p, min(1.0, centre + margin)))]


def confusion(labels: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """[[TN, FP], [FN, TP]] with rows = truth (NORMAL, PNEUMONIA)."""
    labels = np.asarray(labels, dtype=bool)
    predicted = np.asarray(scores) >= threshold
    return np.array([[np.sum(~labels & ~predicted), np.sum(~labels & predicted)],
                     [np.sum(labels & ~predicted), np.sum(labels & predicted)]], dtype=int)


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width probability bins, weighted by count."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    index = np.minimum((scores * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(labels[mask].mean() - scores[mask].mean())
    return float(total / max(len(scores), 1))


def log_loss(labels: np.ndarray, scores: np.ndarray) -> float:
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_platt(labels: np.ndarray, logits: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """Platt scaling: a, b minimising log loss of sigmoid(a * logit + b) (damped Newton)."""
    y = np.asarray(labels, dtype=np.float64)
    x = np.asarray(logits, dtype=np.float64)

    def loss(a: float, b: float) -> float:
        z = a * x + b
        return float(np.mean(np.logaddexp(0, z) - y * z))

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(iterations):
        p = sigmoid(a * x + b)
        w = np.maximum(p * (1 - p), 1e-9)
        grad = np.array([np.mean((p - y) * x), np.mean(p - y)])
        hess = np.array([[np.mean(w * x * x), np.mean(w * x)], [np.mean(w * x), np.mean(w)]])
        step = np.linalg.solve(hess + 1e-9 * np.eye(2), grad)
        scale = 1.0
        while scale > 1e-4 and loss(a - scale * step[0], b - scale * step[1]) > current:
            scale /= 2
        a, b = a - scale * step[0], b - scale * step[1]
        previous, current = current, loss(a, b)
        if previous - current < 1e-12:
            break
    if a <= 0:  # a calibration that reverses the ranking is never right: keep the model's
        return 1.0, 0.0
    return float(a), float(b)


def report(labels: np.ndarray, scores: np.ndarray, threshold: float,
           roc_points: int = 101) -> dict[str, Any]:
    """The evaluation report: AUC, accuracy, sensitivity, specificity, … at `threshold`."""
    labels = np.asarray(labels, dtype=bool)
    (tn, fp), (fn, tp) = confusion(labels, scores, threshold)
    sensitivity = tp / max(tp + fn, 1)
    specificity = tn / max(tn + fp, 1)
    precision = tp / max(tp + fp, 1)
    f1 = 2 * precision * sensitivity / max(precision + sensitivity, 1e-12)
    fpr, tpr, thresholds = roc_curve(labels, scores)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(roc_points, len(fpr))).astype(int))
    return {
        "n": int(len(labels)),
        "n_pneumonia": int(labels.sum()),
        "n_normal": int((~labels).sum()),
        "threshold": float(threshold),
        "auc": roc_auc(labels, scores),
        "accuracy": float((tp + tn) / max(len(labels), 1)),
        "sensitivity": float(sensitivity),
        "specificity": float(specificity),
        "precision": float(precision),
        "f1": float(f1),
        "log_loss": log_loss(labels, scores),
        "ece": expected_calibration_error(labels, scores),
        "brier": float(np.mean((np.asarray(scores) - labels) ** 2)),
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "roc": [{"fpr": float(fpr[i]), "tpr": float(tpr[i]),
                 "threshold": float(min(thresholds[i], 1.0))} for i in keep],
    }
