"""Each alert kind: raised with its evidence and action when its level is crossed, silent
below it; alerts are logged in the audit log once a day while they hold."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from studies import study

from pneumo_desktop.evaluation.drift import reference_section
from pneumo_desktop.intake.audit_log import ALERT, AuditLog
from pneumo_desktop.monitoring import alerts, figures
from pneumo_desktop.monitoring.input_drift import DRIFT_LEVEL, MIN_WINDOW, input_drift


def reference(rng):
    labels = np.r_[np.ones(600, bool), np.zeros(200, bool)]
    logits = np.where(labels, rng.normal(4, 2, 800), rng.normal(-4, 2, 800))
    return reference_section(logits, rng.normal(0.55, 0.08, 800), labels, "test"), labels


def window(rng, n, prevalence, logit_shift=0.0, typicality_shift=0.0):
    sick = rng.random(n) < prevalence
    logits = np.where(sick, rng.normal(4, 2, n), rng.normal(-4, 2, n)) + logit_shift
    typ = rng.normal(0.55, 0.08, n) + typicality_shift
    return [study(i, logit=float(z), probability=0.5) for i, z in enumerate(logits)], typ


def with_typicality(studies, typ):
    from dataclasses import replace

    return [replace(s, typicality=float(t)) for s, t in zip(studies, typ, strict=True)]


def test_drift_alert_on_shifted_films_not_on_a_new_prevalence():
    rng = np.random.default_rng(1)
    ref, _ = reference(rng)
    # the home population at another prevalence (50 % instead of 75 %): no alert
    home = with_typicality(*window(rng, 200, 0.5))
    drift = input_drift(home, ref, 200)
    assert drift["value"] < DRIFT_LEVEL and alerts.drift_alert(drift) is None
    assert abs(drift["by_variable"]["score"]["prevalence"] - 0.5) < 0.1
    # films that look different to the learned check: an alert naming the evidence
    shifted = with_typicality(*window(rng, 200, 0.5, typicality_shift=0.2))
    drift = input_drift(shifted, ref, 200)
    alert = alerts.drift_alert(drift)
    assert drift["value"] >= DRIFT_LEVEL and alert.kind == "drift"
    assert f"PSI {drift['value']:.2f}" in alert.message and "last 200 studies" in alert.message
    assert "typicality" in alert.message and "check the model on your reads" in alert.action
    # too few studies, or no reference: no value, and the reason
    few = input_drift(shifted[:MIN_WINDOW - 1], ref, 200)
    assert few["value"] is None and "drift needs" in few["reason"]
    assert "no reference" in input_drift(shifted, {}, 200)["reason"]
    # the window is the last N studies
    assert input_drift(home + shifted, ref, 200)["value"] == drift["value"]


def test_refusal_alert():
    assert alerts.refusal_alert(200, {"atypical": 12, "age": 7}) is None  # 9.5 %
    alert = alerts.refusal_alert(200, {"atypical": 14, "age": 7})
    assert alert.kind == "refusals"
    assert alert.message.startswith("10 % of the last 200 studies not scored (14 atypical, 7 age)")
    assert "routing" in alert.action
    assert alerts.refusal_alert(50, {"age": 9}) is None  # fewer than REFUSAL_MIN


def reads(sens_hits, n_pos, spec_hits, n_neg):
    out = [study(i, decision="PNEUMONIA" if i < sens_hits else "NORMAL", read="pneumonia")
           for i in range(n_pos)]
    out += [study(1000 + i, decision="NORMAL" if i < spec_hits else "PNEUMONIA", read="normal")
            for i in range(n_neg)]
    return out


EXPECTED = {"source": "card", "sensitivity": 0.95, "specificity": 0.85,
            "sensitivity_ci95": [0.90, 0.98], "specificity_ci95": [0.81, 0.90]}


def test_agreement_alert_names_the_figures_and_the_card():
    fine = figures.agreement(reads(95, 100, 85, 100), EXPECTED)
    assert alerts.agreement_alerts(fine) == []
    low = figures.agreement(reads(95, 100, 112, 180), EXPECTED)  # specificity 0.62
    (alert,) = alerts.agreement_alerts(low)
    assert alert.kind == "agreement"
    assert alert.message.startswith("specificity 0.62 [0.55, 0.69] on 180 normal reads, "
                                    "below the card's [0.81, 0.90]")
    assert alert.action.startswith("recalibrate on your reads")
    flipped = figures.agreement(reads(5, 100, 15, 100), EXPECTED)  # every read flipped
    assert [a.message.split()[0] for a in alerts.agreement_alerts(flipped)] == [
        "sensitivity", "specificity"]
    few = figures.agreement(reads(5, 19, 15, 19), EXPECTED)  # fewer than MIN_READS a class
    assert alerts.agreement_alerts(few) == []


def test_calibration_alert():
    good = [study(i, probability=0.97, read="pneumonia" if i < 29 else "normal")
            for i in range(30)]
    assert alerts.calibration_alert(figures.calibration(good, 0.01)) is None
    bad = [study(i, probability=0.97, read="pneumonia" if i < 41 else "normal")
           for i in range(100)]
    alert = alerts.calibration_alert(figures.calibration(bad, 0.01))
    assert alert.kind == "calibration"
    assert alert.message.startswith("studies shown at 90 %–100 % (mean 97.0 %) were pneumonia "
                                    "41 % [0.32, 0.51] of the time on 100 reads")
    assert "(the card's 0.01)" in alert.message and "recalibrate" in alert.action
    few = [study(i, probability=0.97, read="normal") for i in range(19)]
    assert alerts.calibration_alert(figures.calibration(few)) is None


def test_alerts_logged_once_a_day(tmp_path):
    with AuditLog(tmp_path / "audit.sqlite") as log:
        found = [alerts.Alert("drift", "PSI 0.60", "look"),
                 alerts.Alert("refusals", "30 %", "check")]
        assert alerts.log_new_alerts(log, found) == found
        assert alerts.log_new_alerts(log, [alerts.Alert("drift", "PSI 0.61", "look")]) == []
        events = log.events(ALERT)
        assert [(e["decision"], e["detail"]) for e in events] == [
            ("drift", "PSI 0.60 | action: look"), ("refusals", "30 % | action: check")]
        from datetime import UTC, datetime

        later = datetime.now(UTC) + timedelta(hours=25)
        assert len(alerts.log_new_alerts(log, found[:1], now=later)) == 1
