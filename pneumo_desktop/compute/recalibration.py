""""Recalibrate on my reads" in the compute process: the reads in the audit log laid out as a
labelled folder (as `pneumo-desktop reads --out` does), the active model recalibrated on them
(as `pneumo-desktop calibrate` does), and before / after on the same studies. The new model
stays here behind a handle until the user saves it (`tasks.save_result`) or lets it go."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pneumo_desktop.compute.process import CallContext
from pneumo_desktop.evaluation import metrics
from pneumo_desktop.training.config import TrainingCancelled, TrainingResult


@dataclass
class RecalibrationOutcome:
    """The recalibrated model (`result`, its Keras model kept in the compute process), and
    the figures before (the active model as it is) and after, on the same read studies."""

    result: TrainingResult
    before: dict[str, Any]
    after: dict[str, Any]
    studies: str  # what the reads gave (exported studies, left out)


def before_after(labels: np.ndarray, active_scores: np.ndarray, new_scores: np.ndarray,
                 local: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sensitivity and specificity (Wilson 95 %) and calibration error, before and after.
    After: cross-validated by patient (the card's `local` figures); its calibration error is
    of the recalibrated scores on the studies they were fitted on."""
    active = local["active_model"]
    keys = ("sensitivity", "specificity", "sensitivity_ci95", "specificity_ci95")
    before = {k: active[k] for k in keys}
    before.update(threshold=active["threshold"],
                  ece=metrics.expected_calibration_error(labels, active_scores))
    after = {k: local[k] for k in keys}
    after.update(ece=metrics.expected_calibration_error(labels, new_scores))
    return before, after


def recalibrate_on_reads(ctx: CallContext, keep, audit_path: str, model: str, name: str,
                         target: float = 0.95, folds: int = 5) -> RecalibrationOutcome:
    """Recalibrate `model` on the reads in the audit log at `audit_path`; `keep(ctx, model)`
    keeps the Keras model here and gives the handle that goes back."""
    from pneumo_desktop.intake.audit_log import AuditLog
    from pneumo_desktop.intake.reads_export import export_reads
    from pneumo_desktop.training.local_calibration import recalibrate

    def progress(done: int, total: int) -> None:
        ctx.emit("progress", (done, total))
        if ctx.signalled("cancel"):
            raise TrainingCancelled("Cancelled; nothing was saved")

    with tempfile.TemporaryDirectory(prefix="pneumo-reads-") as tmp:
        folder = Path(tmp) / "reads"
        with AuditLog(audit_path) as audit:
            export = export_reads(audit, folder)
        ctx.emit("message", f"read studies: {export.summary()}")
        done = recalibrate(folder, model, target=target, folds=folds, name=name,
                           log=lambda text: ctx.emit("message", text), progress=progress)
    before, after = before_after(done.labels, done.active_scores, done.scores, done.card.local)
    result = TrainingResult(keep(ctx, done.model), done.card, {},
                            done.labels.astype(np.float32), done.scores,
                            learned_check=done.learned_check)
    return RecalibrationOutcome(result, before, after, export.summary())
