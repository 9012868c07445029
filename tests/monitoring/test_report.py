"""The monitor end to end: studies through a watched folder, reads imported from a CSV made
from results.csv, `pneumo-desktop monitor --json`; flipped reads raise an agreement alert;
speed on an audit log of 200 000 events."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_dicom

from pneumo_desktop.cli.main import main
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import ALERT, AuditLog
from pneumo_desktop.intake.pipeline import predictor_scorer
from pneumo_desktop.intake.receiving import ReceivingConfig, ReceivingService
from pneumo_desktop.model.bundle import ModelCard
from pneumo_desktop.monitoring.report import KEYS, build_report, monitor


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_watched_folder_reads_and_monitor_json(tmp_path, tiny_predictor, tiny_bundle, capsys):
    inbox, out, log_path = tmp_path / "inbox", tmp_path / "out", tmp_path / "audit.sqlite"
    inbox.mkdir()
    for i in range(12):
        cv2.imwrite(str(inbox / f"film{i:02d}.png"), synthetic_chest(256, seed=i))
    write_dicom(inbox / "mr.dcm", synthetic_chest(256, seed=99), Modality="MR")
    (inbox / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    config = ReceivingConfig(out, watch=[inbox], receive=False, audit_path=log_path,
                             poll_s=0.05)
    outcomes = []
    service = ReceivingService(config, predictor_scorer(tiny_predictor),
                               on_outcome=lambda a, o: outcomes.append(o))
    service.start()
    try:
        _wait_for(lambda: len(outcomes) == 14)
    finally:
        service.stop()
    with open(out / "results.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with AuditLog(log_path) as log:
        studies = {Path(s.path).name: s for s in log.studies()}
    scored = [r for r in rows if r["probability"]]
    assert len(scored) == 12
    for row in scored:  # the logit behind each shown probability is logged
        s = studies[Path(row["path"]).name]
        assert s.probability == float(row["probability"])
        assert 1 / (1 + math.exp(-s.logit)) == float(row["probability"]) or \
            abs(1 / (1 + math.exp(-s.logit)) - float(row["probability"])) < 1e-6
        assert s.typicality is None  # the tiny bundle has no learned check
    assert studies["mr.dcm"].reason_code == "modality"
    assert studies["broken.jpg"].outcome == "unreadable"

    # reads as a RIS would export them: by the path results.csv gives
    truth = {r["path"]: ("pneumonia" if i % 2 else "normal") for i, r in enumerate(scored)}
    reads = tmp_path / "reads.csv"
    reads.write_text("study,read\n" + "".join(f"{p},{r}\n" for p, r in truth.items()),
                     encoding="utf-8")
    assert main(["reads", "import", str(reads), "--audit-log", str(log_path)]) == 0
    capsys.readouterr()
    assert main(["monitor", "--audit-log", str(log_path), "--model", str(tiny_bundle),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report)[:len(KEYS)] == list(KEYS)
    assert (report["studies"], report["scored"]) == (14, 12)
    assert report["refused"] == {"modality": 1, "unreadable": 1}
    flagged = [r["prediction"] == "PNEUMONIA" for r in scored]
    assert report["flagged_rate"] == sum(flagged) / 12
    # agreement = what results.csv and the reads give
    pos = [r for r in scored if truth[r["path"]] == "pneumonia"]
    neg = [r for r in scored if truth[r["path"]] == "normal"]
    a = report["agreement"]
    assert set(a) >= {"n", "sensitivity", "specificity", "sensitivity_ci95",
                      "specificity_ci95", "expected"}
    assert a["n"] == 12
    assert a["sensitivity"] == sum(r["prediction"] == "PNEUMONIA" for r in pos) / len(pos)
    assert a["specificity"] == sum(r["prediction"] == "NORMAL" for r in neg) / len(neg)
    assert set(report["drift"]) >= {"statistic", "value", "alert_level"}
    assert report["drift"]["value"] is None  # 12 studies, and no reference in a tiny card
    assert sum(b["n"] for b in report["calibration"]["bands"]) == 12
    assert report["alerts"] == []
    assert main(["monitor", "--audit-log", str(log_path), "--model", str(tiny_bundle)]) == 0
    text = capsys.readouterr().out
    assert "14 studies, 12 scored" in text and "agreement on 12 reads" in text


CARD = ModelCard("m", "a", 64, 0.5, validation={
    "n": 741, "sensitivity": 0.966, "specificity": 0.995, "ece": 0.009,
    "confusion_matrix": [[183, 1], [19, 538]]})


def hidden_studies(log: AuditLog, n: int, flip: bool, seed: int = 0) -> None:
    """`n` scored studies, decisions right 97 % of the time, their reads (flipped if asked)."""
    rng = np.random.default_rng(seed)
    with log.transaction():
        for i in range(n):
            sick = i % 2 == 0
            right = rng.random() < 0.97
            flagged = sick == right
            p = 0.98 if flagged else 0.02
            ref = log.log_received(source="folder", path=f"/in/{seed}-{i}.png",
                                   sha256=f"{seed}-{i}")
            log.log_outcome(ref, event="scored", path=f"/in/{seed}-{i}.png", model="m",
                            probability=p, decision="PNEUMONIA" if flagged else "NORMAL",
                            threshold=0.5, logit=math.log(p / (1 - p)))
            log.log_read(ref, ("pneumonia" if sick else "normal") if not flip else
                         ("normal" if sick else "pneumonia"))


def test_flipped_reads_raise_an_agreement_alert_and_it_is_logged(tmp_path):
    with AuditLog(tmp_path / "a.sqlite") as log:
        hidden_studies(log, 100, flip=False)
        report = monitor(log, CARD)
        assert [a.kind for a in report.alerts] == []
    with AuditLog(tmp_path / "b.sqlite") as log:
        hidden_studies(log, 100, flip=True)
        report = monitor(log, CARD)
        kinds = [a.kind for a in report.alerts]
        assert kinds.count("agreement") == 2 and "calibration" in kinds
        assert [e["decision"] for e in log.events(ALERT)] == kinds
        monitor(log, CARD)  # the same alerts again the same day: not logged twice
        assert len(log.events(ALERT)) == len(kinds)


def test_since_keeps_the_later_days(tmp_path):
    with AuditLog(tmp_path / "a.sqlite") as log:
        hidden_studies(log, 10, flip=False)
        studies = log.studies()
    from dataclasses import replace
    from datetime import date

    old = [replace(s, time="2026-01-01T00:00:00+00:00") for s in studies[:4]]
    report = build_report(old + studies[4:], CARD, since=date(2026, 2, 1))
    assert report.studies == 6 and report.since == "2026-02-01"


@pytest.mark.slow
def test_speed_on_200000_events(tmp_path):
    """Not a timed assertion: prints how long the monitor takes on 200 000 events."""
    path = tmp_path / "big.sqlite"
    started = time.perf_counter()
    with AuditLog(path) as log:
        rng = np.random.default_rng(0)
        with log.transaction():
            for i in range(80_000):  # 80 000 received + 80 000 outcomes + 40 000 reads
                ref = log.log_received(source="folder", path=f"/in/{i}.png", sha256=str(i))
                z = float(rng.normal(4, 5))
                p = 1 / (1 + math.exp(-z))
                log.log_outcome(ref, event="scored", path=f"/in/{i}.png", model="m",
                                probability=p, decision="PNEUMONIA" if p >= 0.5 else "NORMAL",
                                threshold=0.5, logit=z, typicality=float(rng.normal(0.55, 0.1)))
                if i % 2:
                    log.log_read(ref, "pneumonia" if rng.random() < p else "normal")
        assert len(log.events()) == 200_000
    filled = time.perf_counter() - started
    with AuditLog(path) as log:
        started = time.perf_counter()
        report = monitor(log, CARD, log_alerts=False)
        seconds = time.perf_counter() - started
    assert report.studies == 80_000 and report.agreement["n"] == 40_000
    print(f"\nmonitor on 200 000 events: {seconds:.2f} s (log written in {filled:.1f} s)")
