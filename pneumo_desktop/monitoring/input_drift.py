"""Input drift of the recent studies against the reference the active model's card carries
(`evaluation.drift`): the window is the last N studies of the active model that it scored or
that its learned check refused (a film refused for its DICOM tags or its pixels, a CT or an
adult, says nothing about the films the model reads: the refusal figures count those)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pneumo_desktop.evaluation.drift import STATISTIC, drift_figures
from pneumo_desktop.intake.audit_log import SCORED, StudyRecord

#: the drift alert level (PSI) and the fewest studies a window needs: see docs/monitoring.md
DRIFT_LEVEL = 0.10
MIN_WINDOW = 50
#: chance alone gives a window of n films of the home population a PSI of about chi2(4) / n
#: (five bins); measured, n x PSI stayed below 16 in random windows of 50 to 200 films
#: of the home test and validation splits: a window alerts from SMALL_WINDOW / n when that is
#: above DRIFT_LEVEL (0.40 for 50 films, 0.17 for 120; 0.10 from 200)
SMALL_WINDOW = 20.0


def alert_level(n: int, level: float = DRIFT_LEVEL) -> float:
    """The PSI at which a window of `n` studies raises a drift alert: `level`, or for a
    small window SMALL_WINDOW / n, above what chance gives it (docs/monitoring.md)."""
    return max(level, SMALL_WINDOW / n) if n else level
DEFAULT_WINDOW = 200
#: refusal codes of the learned check (`model.input_check`): films the model itself looked at
LEARNED_REFUSALS = frozenset({"atypical", "orientation", "inverted", "partial"})


def drift_window(studies: list[StudyRecord], window: int, model: str | None = None
                 ) -> list[StudyRecord]:
    """The last `window` studies with a logit (by `model` when given), oldest first."""
    ran = [s for s in studies if s.logit is not None and (model is None or s.model == model)
           and (s.outcome == SCORED or s.reason_code in LEARNED_REFUSALS)]
    return ran[-window:] if window > 0 else ran


def input_drift(studies: list[StudyRecord], reference: dict[str, Any] | None,
                window: int = DEFAULT_WINDOW, model: str | None = None,
                level: float = DRIFT_LEVEL) -> dict[str, Any]:
    """{statistic, value, alert_level} and the figures behind them: each variable's PSI and
    fitted prevalence, the window's size. `value` is None when the card has no reference or
    the window has fewer than MIN_WINDOW studies (`reason` says which)."""
    recent = drift_window(studies, window, model)
    out: dict[str, Any] = {"statistic": STATISTIC, "value": None,
                           "alert_level": alert_level(len(recent), level),
                           "n": len(recent), "window": window, "by_variable": {},
                           "reason": ""}
    if not reference:
        out["reason"] = "the model card has no reference distribution (pneumo-desktop reference)"
        return out
    if len(recent) < MIN_WINDOW:
        out["reason"] = f"{len(recent)} studies in the window; drift needs {MIN_WINDOW}"
        return out
    logits = np.array([s.logit for s in recent], np.float64)
    typicality = np.array([np.nan if s.typicality is None else s.typicality for s in recent])
    figures = drift_figures(reference, logits, typicality)
    out["by_variable"] = figures
    if figures:
        out["value"] = max(f["psi"] for f in figures.values())
        out["worst"] = max(figures, key=lambda k: figures[k]["psi"])
        out["quantiles"] = {"score": _quantiles(logits),
                            "typicality": _quantiles(typicality)
                            if np.isfinite(typicality).all() else {}}
    return out


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return {f"{q:.2f}": float(np.quantile(values, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
