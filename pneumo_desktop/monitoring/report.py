"""`pneumo-desktop monitor` and the Monitoring page: every figure and alert in one report.

Volume, flagged and refused shares count every study received in the period; agreement,
calibration and drift count the active model's studies (the model name the log records), so
the figures match what that model's card promises.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pneumo_desktop.intake.audit_log import AuditLog, StudyRecord
from pneumo_desktop.model.bundle import ModelCard
from pneumo_desktop.monitoring import alerts as rules
from pneumo_desktop.monitoring import figures
from pneumo_desktop.monitoring.input_drift import DEFAULT_WINDOW, input_drift

#: the `--json` keys, in order (`per_day`, `model`, `since`, `window`, `seconds` are extra)
KEYS = ("studies", "scored", "refused", "flagged_rate", "agreement", "calibration", "drift",
        "alerts")


@dataclass
class MonitorReport:
    studies: int
    scored: int
    refused: dict[str, int]
    flagged_rate: float | None
    agreement: dict[str, Any]
    calibration: dict[str, Any]
    drift: dict[str, Any]
    alerts: list[rules.Alert]
    per_day: dict[str, int] = field(default_factory=dict)
    model: str = ""
    since: str = ""
    window: int = DEFAULT_WINDOW
    seconds: float = 0.0  # how long the report took

    def to_json(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key in KEYS}
        out["alerts"] = [a.to_json() for a in self.alerts]
        out.update(per_day=self.per_day, model=self.model, since=self.since,
                   window=self.window, seconds=round(self.seconds, 3))
        return out

    def lines(self) -> list[str]:
        """The report in words, for the command line."""
        out = [f"{self.studies} studies" + (f" since {self.since}" if self.since else "")
               + f", {self.scored} scored, "
               + (f"{self.flagged_rate * 100:.1f} % of them flagged"
                  if self.flagged_rate is not None else "none flagged")]
        if self.per_day:
            out.append("per day: " + ", ".join(f"{d} {n}" for d, n in self.per_day.items()))
        if self.refused:
            out.append("not scored: " + ", ".join(f"{n} {r}" for r, n in self.refused.items()))
        a = self.agreement
        if a["n"]:
            exp = a["expected"]
            out.append(f"agreement on {a['n']} reads ({a['n_pneumonia']} pneumonia, "
                       f"{a['n_normal']} normal) with {self.model}:")
            for name in ("sensitivity", "specificity"):
                value, ci = a[name], a[f"{name}_ci95"]
                shown = "-" if value is None else f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
                promise = "" if exp.get(name) is None else f"; card {exp[name]:.3f}" + (
                    f" [{exp[f'{name}_ci95'][0]:.3f}, {exp[f'{name}_ci95'][1]:.3f}]"
                    if exp.get(f"{name}_ci95") else "")
                out.append(f"  {name} {shown}{promise}")
            if exp:
                out.append(f"  (card figures: {exp['source']})")
            c = self.calibration
            out.append(f"calibration: error {c['ece']:.3f}" + (
                f" (card {c['expected_ece']:.3f})" if c["expected_ece"] is not None else ""))
            for band in c["bands"]:
                lo, hi = band["band"]
                ci = band["observed_ci95"]
                out.append(f"  shown {lo:.0%}-{hi:.0%}: {band['n']} reads, mean shown "
                           f"{band['mean_probability']:.1%}, pneumonia {band['observed']:.1%} "
                           f"[{ci[0]:.1%}, {ci[1]:.1%}]")
        else:
            out.append("agreement: no scored study has a read yet")
        d = self.drift
        if d["value"] is None:
            out.append(f"drift: not measured ({d['reason']})")
        else:
            parts = ", ".join(f"{k} {v['psi']:.3f} (fitted prevalence {v['prevalence']:.2f})"
                              for k, v in d["by_variable"].items())
            out.append(f"drift over the last {d['n']} studies: {d['value']:.3f}, alert level "
                       f"{d['alert_level']:.2f} ({parts})")
            out.append(f"  statistic: {d['statistic']}")
        out += [f"ALERT ({a.kind}): {a.message}\n  action: {a.action}" for a in self.alerts] \
            or ["no alert"]
        return out


def build_report(studies: list[StudyRecord], card: ModelCard | None, *,
                 since: date | None = None, window: int = DEFAULT_WINDOW) -> MonitorReport:
    """Every figure and alert from the audit log's `studies` (`AuditLog.studies()`)."""
    started = time.perf_counter()
    period = figures.since(studies, since)
    model = card.name if card else None
    expected = figures.expected_figures(card)
    read = figures.read_and_scored(period, model)
    agreement = figures.agreement(read, expected)
    calibration = figures.calibration(read, expected.get("ece"))
    drift = input_drift(period, card.reference if card else None, window, model)
    recent = [s for s in period if s.outcome][-window:]
    found = [rules.drift_alert(drift), rules.refusal_alert(len(recent),
                                                           figures.refused_by_reason(recent)),
             *rules.agreement_alerts(agreement), rules.calibration_alert(calibration)]
    report = MonitorReport(
        studies=len(period), scored=sum(figures.is_scored(s) for s in period),
        refused=figures.refused_by_reason(period), flagged_rate=figures.flagged_rate(period),
        agreement=agreement, calibration=calibration, drift=drift,
        alerts=[a for a in found if a is not None], per_day=figures.per_day(period),
        model=model or "", since=since.isoformat() if since else "", window=window)
    report.seconds = time.perf_counter() - started
    return report


def monitor(audit: AuditLog, card: ModelCard | None, *, since: date | None = None,
            window: int = DEFAULT_WINDOW, log_alerts: bool = True) -> MonitorReport:
    """The report from the audit log; its alerts are logged (once a day while they hold)."""
    started = time.perf_counter()
    studies = audit.studies(since.isoformat() if since else None)
    report = build_report(studies, card, since=since, window=window)
    if log_alerts and report.alerts:
        rules.log_new_alerts(audit, report.alerts)
    report.seconds = time.perf_counter() - started
    return report
