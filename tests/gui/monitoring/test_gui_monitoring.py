"""The Monitoring page: figures and alerts from a real audit log, alerts in the status bar and
logged, reads imported, the View > Monitoring entry of the main window, and "Recalibrate on
my reads" in the compute process with before / after before anything is saved."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMainWindow

from pneumo_desktop.evaluation.drift import reference_section
from pneumo_desktop.gui.monitoring.dock import MonitoringDock
from pneumo_desktop.gui.monitoring.recalibration import RecalibrationDialog
from pneumo_desktop.gui.window.main_window import MainWindow
from pneumo_desktop.gui.workers import ThreadPool
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import ALERT, AuditLog
from pneumo_desktop.model.bundle import ModelCard, read_bundle


def card_with_reference() -> ModelCard:
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(600, bool), np.zeros(200, bool)]
    logits = np.where(labels, rng.normal(4, 2, 800), rng.normal(-4, 2, 800))
    return ModelCard("m", "a", 64, 0.5, validation={
        "n": 741, "sensitivity": 0.966, "specificity": 0.995, "ece": 0.009,
        "confusion_matrix": [[183, 1], [19, 538]]},
        reference=reference_section(logits, rng.normal(0.55, 0.08, 800), labels, "test"))


def fill(log: AuditLog, n: int, flip: bool, typicality_shift: float = 0.0) -> None:
    rng = np.random.default_rng(1)
    with log.transaction():
        for i in range(n):
            sick = i % 2 == 0
            flagged = sick == (rng.random() < 0.97)
            z = float(rng.normal(4, 2) if flagged else rng.normal(-4, 2))
            p = 1 / (1 + math.exp(-z))
            ref = log.log_received(source="folder", path=f"/in/{i}.png", sha256=str(i),
                                   study_instance_uid=f"S{i}")
            log.log_outcome(ref, event="scored", path=f"/in/{i}.png", model="m",
                            probability=p, decision="PNEUMONIA" if flagged else "NORMAL",
                            threshold=0.5, logit=z,
                            typicality=float(rng.normal(0.55, 0.08) + typicality_shift))
            if i < n // 2:
                log.log_read(ref, ("normal" if sick else "pneumonia") if flip else
                             ("pneumonia" if sick else "normal"))


@pytest.fixture
def host(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    pool = ThreadPool(window)
    yield window, pool
    pool.wait_all()


def open_dock(qtbot, host, log, card, tmp_path) -> MonitoringDock:
    window, pool = host
    dock = MonitoringDock(log, lambda: card, lambda: None, pool, tmp_path / "models", window)
    window.addDockWidget(dock.allowedAreas().BottomDockWidgetArea, dock)
    window.resize(1200, 700)
    window.show()
    return dock


def test_page_shows_the_figures_and_the_alerts(qtbot, host, tmp_path):
    with AuditLog(tmp_path / "audit.sqlite") as log:
        fill(log, 240, flip=True, typicality_shift=0.25)
        dock = open_dock(qtbot, host, log, card_with_reference(), tmp_path)
        announced = []
        dock.announced.connect(announced.append)
        with qtbot.waitSignal(dock.reportReady, timeout=30000):
            dock.refresh()
        report = dock.report
        assert {a.kind for a in report.alerts} == {"agreement", "calibration", "drift"}
        summary = dock.page.summary.text()
        assert "<b>240</b> studies" in summary and "120</b> reads" in summary
        assert f"PSI <b>{report.drift['value']:.2f}</b>" in summary
        alerts = dock.page.alerts.text()
        assert "Drift</b>: input drift: PSI" in alerts and "recalibrate on your reads" in alerts
        assert len(announced) == 4 and announced[0].startswith("Monitoring alert")
        assert len(dock.page.figure.axes) == 3
        assert [e["decision"] for e in log.events(ALERT)] == [a.kind for a in report.alerts]
        with qtbot.waitSignal(dock.reportReady, timeout=30000):
            dock.refresh()
        assert len(announced) == 4  # the same alerts are not announced again
        dock.page.grab().save(str(tmp_path / "page.png"))


def test_reads_imported_from_the_page(qtbot, host, tmp_path):
    with AuditLog(tmp_path / "audit.sqlite") as log:
        fill(log, 60, flip=False)
        dock = open_dock(qtbot, host, log, card_with_reference(), tmp_path)
        reads = tmp_path / "reads.csv"
        reads.write_text("study,read\n" + "".join(f"S{i},{'pneumonia' if i % 2 == 0 else 'normal'}"
                                                  "\n" for i in range(30, 60)), encoding="utf-8")
        with qtbot.waitSignal(dock.reportReady, timeout=30000):
            assert dock.import_reads(reads)
        assert dock.report.agreement["n"] == 60
        assert "no alert" in dock.page.alerts.text().lower()


def test_view_monitoring_in_the_main_window(qtbot, tmp_path, tiny_bundle, monkeypatch):
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(model_path=tiny_bundle, settings=settings, model_dirs=[])
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.audit_ready and w.monitoring is not None, timeout=60000)
        assert not w.monitoring.isVisible()  # built hidden: alerts still reach the status bar
        w.monitoring_action.trigger()
        qtbot.waitUntil(lambda: w.monitoring.report is not None, timeout=30000)
        assert w.monitoring.isVisible() and w.monitoring.report.studies == 0
        w.monitoring.announced.emit("Monitoring alert (drift): test")
        assert w.statusBar().currentMessage() == "Monitoring alert (drift): test"
    finally:
        w.shutdown()


def test_recalibrate_on_my_reads_before_and_after(qtbot, host, tmp_path, tiny_bundle):
    window, pool = host
    log = AuditLog(tmp_path / "audit.sqlite")
    for i in range(16):
        path = tmp_path / "in" / f"film{i}.png"
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), synthetic_chest(256, seed=i))
        ref = log.log_received(source="folder", path=path, sha256=str(i))
        log.log_read(ref, "pneumonia" if i % 2 else "normal")
    log.close()
    dialog = RecalibrationDialog(log.path, tiny_bundle, tmp_path / "models", pool, window)
    qtbot.addWidget(dialog)
    switched = []
    dialog.switchRequested.connect(switched.append)
    dialog.show()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.outcome is not None or "Not recalibrated"
                    in dialog.status.text(), timeout=180000)
    assert dialog.outcome is not None, dialog.status.text()
    before, after = dialog.outcome.before, dialog.outcome.after
    assert set(before) >= {"sensitivity", "specificity", "ece", "threshold"}
    assert dialog.table.item(0, 0).text().startswith(f"{before['sensitivity']:.2f} [")
    assert dialog.table.item(1, 1).text().startswith(f"{after['specificity']:.2f} [")
    assert "On the same 16 read studies (8 pneumonia, 8 normal" in dialog.status.text()
    assert not (tmp_path / "models").exists()  # nothing saved yet
    dialog.save_button.click()
    qtbot.waitUntil(lambda: bool(switched), timeout=60000)
    bundle = read_bundle(switched[0])
    assert bundle.card.local["n"] == 16
    assert bundle.path.parent == tmp_path / "models"
