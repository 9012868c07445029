"""The monitoring figures from the audit log's studies: volume per day, flagged and refused
shares, agreement with the readers (Wilson 95 % intervals), calibration per probability band,
and what the active model's card promises."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import numpy as np

from pneumo_desktop.evaluation import metrics
from pneumo_desktop.intake.audit_log import REFUSED, SCORED, UNREADABLE, StudyRecord
from pneumo_desktop.model.bundle import ModelCard

FLAGGED = "PNEUMONIA"
#: probability bands of the calibration table (equal width, as the card's ECE)
BAND_EDGES = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))


def since(studies: list[StudyRecord], day: date | None) -> list[StudyRecord]:
    """The studies received on `day` or later (all when None)."""
    if day is None:
        return list(studies)
    first = day.isoformat()
    return [s for s in studies if s.time[:10] >= first]


def per_day(studies: list[StudyRecord]) -> dict[str, int]:
    """Studies received per UTC day, oldest first."""
    return dict(sorted(Counter(s.time[:10] for s in studies).items()))


def is_scored(study: StudyRecord) -> bool:
    return study.outcome == SCORED and study.probability is not None


def refusal_reason(study: StudyRecord) -> str:
    """The refusal's code (`age`, `atypical`, `modality`, ...), `unreadable` for a file that
    could not be read, `refused` for a refusal logged before codes were."""
    if study.outcome == UNREADABLE:
        return "unreadable"
    return study.reason_code or "refused"


def refused_by_reason(studies: list[StudyRecord]) -> dict[str, int]:
    """Studies not scored, by reason (most frequent first)."""
    counts = Counter(refusal_reason(s) for s in studies if s.outcome in (REFUSED, UNREADABLE))
    return dict(counts.most_common())


def flagged_rate(studies: list[StudyRecord]) -> float | None:
    """Share of the scored studies flagged as pneumonia (None when none was scored)."""
    scored = [s for s in studies if is_scored(s)]
    if not scored:
        return None
    return sum(s.decision == FLAGGED for s in scored) / len(scored)


def read_and_scored(studies: list[StudyRecord], model: str | None = None
                    ) -> list[StudyRecord]:
    """Scored studies (by `model` when given) with a read of pneumonia or normal."""
    return [s for s in studies if is_scored(s) and s.read in ("pneumonia", "normal")
            and (model is None or s.model == model)]


def agreement(studies: list[StudyRecord], expected: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """Sensitivity and specificity of the app's decisions against the reads (`studies`: read
    and scored), with Wilson 95 % intervals, and what the card `expected`."""
    read_pneumonia = [s for s in studies if s.read == "pneumonia"]
    read_normal = [s for s in studies if s.read == "normal"]
    tp = sum(s.decision == FLAGGED for s in read_pneumonia)
    tn = sum(s.decision != FLAGGED for s in read_normal)
    return {
        "n": len(studies),
        "sensitivity": tp / len(read_pneumonia) if read_pneumonia else None,
        "specificity": tn / len(read_normal) if read_normal else None,
        "sensitivity_ci95": metrics.wilson_interval(tp, len(read_pneumonia)),
        "specificity_ci95": metrics.wilson_interval(tn, len(read_normal)),
        "expected": expected or {},
        "n_pneumonia": len(read_pneumonia), "n_normal": len(read_normal),
        "confusion_matrix": [[tn, len(read_normal) - tn], [len(read_pneumonia) - tp, tp]],
    }


def calibration(studies: list[StudyRecord], expected_ece: float | None = None
                ) -> dict[str, Any]:
    """Observed pneumonia rate per band of the shown probability (Wilson 95 % intervals) on
    read and scored `studies`, their expected calibration error and the card's."""
    probs = np.array([s.probability for s in studies], np.float64)
    truth = np.array([s.read == "pneumonia" for s in studies], bool)
    bins = len(BAND_EDGES) - 1
    index = np.minimum((probs * bins).astype(int), bins - 1)
    bands = []
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        if not n:
            continue
        positive = int(truth[mask].sum())
        bands.append({"band": [float(BAND_EDGES[b]), float(BAND_EDGES[b + 1])], "n": n,
                      "mean_probability": float(probs[mask].mean()),
                      "observed": positive / n,
                      "observed_ci95": metrics.wilson_interval(positive, n)})
    return {"n": len(studies),
            "ece": metrics.expected_calibration_error(truth, probs, bins) if len(probs) else None,
            "expected_ece": expected_ece, "bands": bands}


def expected_figures(card: ModelCard | None) -> dict[str, Any]:
    """What the card promises: its `local` figures (cross-validated on the clinic's studies,
    with their intervals) when it has them, else its validation figures (intervals from the
    validation confusion matrix)."""
    if card is None:
        return {}
    local = card.local if isinstance(card.local, dict) else {}
    validation = card.validation if isinstance(card.validation, dict) else {}
    if local.get("sensitivity") is not None:
        return {"source": f"your {local.get('n', '')} studies, cross-validated (card: local)",
                "sensitivity": local["sensitivity"], "specificity": local["specificity"],
                "sensitivity_ci95": local.get("sensitivity_ci95"),
                "specificity_ci95": local.get("specificity_ci95"), "ece": None,
                "threshold": card.threshold}
    if validation.get("sensitivity") is None:
        return {}
    out = {"source": f"the training hospital's validation split ({validation.get('n', '')} "
                     "studies)", "sensitivity": validation["sensitivity"],
           "specificity": validation["specificity"], "sensitivity_ci95": None,
           "specificity_ci95": None, "ece": validation.get("ece"), "threshold": card.threshold}
    matrix = validation.get("confusion_matrix")
    if matrix:
        (tn, fp), (fn, tp) = matrix
        out["sensitivity_ci95"] = metrics.wilson_interval(tp, tp + fn)
        out["specificity_ci95"] = metrics.wilson_interval(tn, tn + fp)
    return out
