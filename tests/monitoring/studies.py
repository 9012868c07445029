"""Audit-log study records made by hand for the monitoring tests."""

from __future__ import annotations

from pneumo_desktop.intake.audit_log import StudyRecord


def study(i: int, outcome: str = "scored", probability: float | None = 0.5,
          decision: str = "NORMAL", read: str = "", time: str = "2026-11-30T10:00:00+00:00",
          reason_code: str = "", logit: float | None = None, model: str = "m") -> StudyRecord:
    return StudyRecord(i, time, "test", f"/in/{i}.dcm", f"{i:064x}", "", "", outcome,
                       probability if outcome == "scored" else None, decision, 0.5, model,
                       read=read, reason_code=reason_code, logit=logit)
