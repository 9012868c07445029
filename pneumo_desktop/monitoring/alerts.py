"""Alerts that name their evidence and what to do: drift, refusals, agreement, calibration.

The levels (see docs/monitoring.md for how they were chosen):
- drift: the PSI of the window at or above `input_drift.DRIFT_LEVEL`;
- refusals: at least REFUSAL_SHARE of the window's studies not scored, and REFUSAL_MIN of them;
- agreement: with at least MIN_READS reads of a class, the sensitivity (or specificity)
  interval lies wholly below what the card promises (below the lower end of its interval);
- calibration: a probability band with at least MIN_READS reads whose observed pneumonia rate
  interval misses the band's mean shown probability by more than CALIBRATION_GAP.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pneumo_desktop.intake.audit_log import ALERT, AuditLog

KINDS = ("drift", "refusals", "agreement", "calibration")
MIN_READS = 20
REFUSAL_SHARE, REFUSAL_MIN = 0.10, 10
CALIBRATION_GAP = 0.10
REPEAT_AFTER = timedelta(hours=24)  # an alert that holds is logged again after this
RECALIBRATE = ("recalibrate on your reads: Monitoring > Recalibrate on my reads (or "
               "pneumo-desktop reads --out DIR, then pneumo-desktop calibrate DIR), compare "
               "before and after, then switch models")


@dataclass(frozen=True)
class Alert:
    kind: str  # drift | refusals | agreement | calibration
    message: str  # the evidence
    action: str  # what to do

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @property
    def text(self) -> str:
        return f"{self.message}: {self.action}"

    @property
    def key(self) -> str:
        """What repeats of it share: the kind (and the figure, for agreement)."""
        return _key(self.kind, self.message)


def _key(kind: str, message: str) -> str:
    return f"{kind}:{message.split(' ', 1)[0]}" if kind == "agreement" else kind


def _pct(value: float) -> str:
    return f"{value * 100:.0f} %"


def _interval(ci: list[float] | None) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""


def drift_alert(drift: dict[str, Any]) -> Alert | None:
    value = drift.get("value")
    if value is None or value < drift["alert_level"]:
        return None
    parts = ", ".join(f"{name} {f['psi']:.2f}" for name, f in drift["by_variable"].items())
    return Alert("drift", f"input drift: PSI {value:.2f} ({parts}) over the last {drift['n']} "
                          f"studies, at or above the alert level {drift['alert_level']:.2f}",
                 "the films no longer look like those the model was validated on (a new X-ray "
                 "machine or processing, another population): look at recent studies and "
                 "their refusals, and check the model on your reads before relying on it "
                 "(import reads, then Recalibrate on my reads)")


def refusal_alert(recent: int, refused: dict[str, int]) -> Alert | None:
    total = sum(refused.values())
    if not recent or total < REFUSAL_MIN or total / recent < REFUSAL_SHARE:
        return None
    reasons = ", ".join(f"{n} {reason}" for reason, n in refused.items())
    return Alert("refusals", f"{_pct(total / recent)} of the last {recent} studies not scored "
                             f"({reasons}), at or above {_pct(REFUSAL_SHARE)}",
                 "check what is sent to Pneumo Desktop (the worklist shows each refusal's "
                 "reason): other modalities, lateral views or adults mean the routing sends "
                 "the wrong series; many 'atypical' films mean the input has changed (see "
                 "drift)")


def agreement_alerts(agreement: dict[str, Any]) -> list[Alert]:
    expected = agreement.get("expected") or {}
    alerts = []
    for name, count in (("sensitivity", agreement.get("n_pneumonia", 0)),
                        ("specificity", agreement.get("n_normal", 0))):
        value, ci = agreement.get(name), agreement.get(f"{name}_ci95")
        promised = expected.get(name)
        if value is None or promised is None or count < MIN_READS:
            continue
        low = (expected.get(f"{name}_ci95") or [promised, promised])[0]
        if ci[1] >= low:
            continue
        what = "pneumonia" if name == "sensitivity" else "normal"
        band = _interval(expected.get(f"{name}_ci95")) or f"{promised:.2f}"
        action = RECALIBRATE if name == "specificity" else (
            RECALIBRATE + "; until then do not let a negative result clear a study")
        alerts.append(Alert("agreement", f"{name} {value:.2f} {_interval(ci)} on {count} "
                                         f"{what} reads, below the card's {band} "
                                         f"({expected.get('source', '')})", action))
    return alerts


def calibration_alert(calibration: dict[str, Any]) -> Alert | None:
    worst, gap = None, CALIBRATION_GAP
    for band in calibration.get("bands", []):
        if band["n"] < MIN_READS:
            continue
        low, high = band["observed_ci95"]
        miss = max(band["mean_probability"] - high, low - band["mean_probability"])
        if miss > gap:
            worst, gap = band, miss
    if worst is None:
        return None
    lo, hi = worst["band"]
    ece = calibration.get("ece")
    card = calibration.get("expected_ece")
    return Alert("calibration",
                 f"studies shown at {_pct(lo)}–{_pct(hi)} (mean "
                 f"{worst['mean_probability'] * 100:.1f} %) were pneumonia "
                 f"{_pct(worst['observed'])} "
                 f"{_interval(worst['observed_ci95'])} of the time on {worst['n']} reads"
                 + (f"; calibration error {ece:.2f}" if ece is not None else "")
                 + (f" (the card's {card:.2f})" if card is not None else ""),
                 "the shown probability is not a probability here: " + RECALIBRATE)


def log_new_alerts(audit: AuditLog, alerts: list[Alert],
                   now: datetime | None = None) -> list[Alert]:
    """Log each alert unless one like it (`Alert.key`) was logged in the last REPEAT_AFTER (an alert
    that holds is logged once a day, not at every refresh); returns those logged."""
    now = now or datetime.now(UTC)
    last: dict[str, datetime] = {}
    for event in audit.events(ALERT):
        last[_key(event["decision"], event["detail"])] = datetime.fromisoformat(event["time"])
    logged = []
    for alert in alerts:
        if alert.key in last and now - last[alert.key] < REPEAT_AFTER:
            continue
        audit.log_alert(alert.kind, alert.message, alert.action)
        last[alert.key] = now
        logged.append(alert)
    return logged
