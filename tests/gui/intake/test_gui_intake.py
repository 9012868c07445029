"""The main window with studies arriving by themselves: the worklist dock fed by the DICOM
receiver and scored by the active model in the compute process, flagged studies announced in
the status bar, and the user's overrides (score anyway, threshold, model switch) in the audit
log."""

from __future__ import annotations

import socket

import pytest
from conftest import make_bundle, write_dicom
from pydicom.uid import generate_uid
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation
from PySide6.QtCore import QSettings

from pneumo_desktop.gui.settings import AppSettings
from pneumo_desktop.gui.window.main_window import MainWindow
from pneumo_desktop.imaging.synthetic import synthetic_chest
from tests.dicom_sender import send


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def window(qtbot, tmp_path, tiny_bundle, monkeypatch):
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path / "data"))
    w = open_window(qtbot, tmp_path, tiny_bundle)
    w.show()
    qtbot.waitUntil(lambda: w.is_model_ready and w.audit_ready, timeout=60000)
    yield w
    w.shutdown()


def open_window(qtbot, tmp_path, bundle, settings: QSettings | None = None) -> MainWindow:
    settings = settings or QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(model_path=bundle, settings=settings, model_dirs=[])
    qtbot.addWidget(w)
    return w


def test_overrides_made_while_the_audit_log_opens_are_recorded_once_it_is_open(
        qtbot, tmp_path, tiny_bundle, monkeypatch):
    """The log opens in a worker (its integrity check grows with it): the window is usable at
    once, and what the user overrides meanwhile is queued, not lost."""
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path / "data"))
    w = open_window(qtbot, tmp_path, tiny_bundle)
    w.show()
    assert w.audit is None and not w.audit_ready  # its opened signal waits for the event loop
    w.records.record("threshold_change", "0.5000 -> 0.4000", model="tiny")
    w.show_worklist()  # asked for while the log opens: shown once it is open
    qtbot.waitUntil(lambda: w.audit_ready and w.intake is not None, timeout=10000)
    assert w.intake.isVisible()
    events = w.audit.events("threshold_change")
    assert len(events) == 1 and "0.4000" in events[0]["detail"]
    w.shutdown()


def test_an_audit_log_that_cannot_be_opened_is_reported_and_scoring_goes_on(
        qtbot, tmp_path, tiny_bundle, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "audit.sqlite").write_bytes(b"not a database" * 100)
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(data))
    w = open_window(qtbot, tmp_path, tiny_bundle)
    w.show()
    w.records.record("threshold_change", "0.5000 -> 0.4000")
    qtbot.waitUntil(lambda: "audit log unavailable" in w.audit_error, timeout=10000)
    assert "1 override(s) made meanwhile were not recorded" in w.audit_error
    assert not w.audit_ready
    qtbot.waitUntil(lambda: w.is_model_ready, timeout=60000)
    w.statusBar().clearMessage()
    w.show_worklist()
    assert w.intake is None and "unavailable" in w.statusBar().currentMessage()
    w.shutdown()


def test_the_receiver_restarts_at_launch_when_it_was_on(qtbot, tmp_path, tiny_bundle,
                                                        monkeypatch):
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path / "data"))
    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"),
                                     QSettings.Format.IniFormat))
    settings.receive_port = free_port()
    settings.receiving_enabled = True
    w = open_window(qtbot, tmp_path, tiny_bundle, settings.store)
    qtbot.waitUntil(lambda: w.intake is not None and w.intake.running, timeout=15000)
    assert f"port {settings.receive_port}" in w.intake.status_label.text()
    w.shutdown()


def test_the_dicom_stack_is_imported_only_when_the_worklist_is_used(window):
    """(test_gui_viewer checks in a fresh process that the window's import leaves pynetdicom
    out.)"""
    assert window.intake is None and window.audit is not None
    window.show_worklist()
    assert window.intake is not None and window.intake.isVisible()
    assert "Receiver off" in window.intake.status_label.text()


def test_received_studies_are_scored_listed_and_flagged(qtbot, window):
    settings = window.settings
    settings.receive_port = free_port()
    settings.receive_ae_title = "PNEUMO"
    dock = window.ensure_intake()
    with qtbot.waitSignal(dock.runningChanged, timeout=10000):
        assert dock.start()
    assert f"port {settings.receive_port}" in dock.status_label.text()
    assert settings.receiving_enabled
    folder = window.audit.path.parent / "sent"
    folder.mkdir()
    films = [write_dicom(folder / f"f{i}.dcm", synthetic_chest(160, seed=i),
                         SOPClassUID=DigitalXRayImageStorageForPresentation, Modality="DX",
                         StudyInstanceUID=generate_uid(), PatientID=f"P{i}")
             for i in range(4)]
    messages: list[str] = []
    dock.announced.connect(messages.append)
    window.set_threshold_override(0.01)  # every study is flagged at this threshold
    assert send(settings.receive_port, films) == [0, 0, 0, 0]
    qtbot.waitUntil(lambda: dock.model.rowCount() == 4
                    and all(dock.model.row(i).outcome for i in range(4)), timeout=60000)
    assert {dock.model.row(i).state for i in range(4)} == {"flagged"}
    assert any(m.startswith("New study flagged: pneumonia suspected") for m in messages)
    assert len(window.audit.events("received")) == 4
    assert len(window.audit.events("scored")) == 4
    overrides = window.audit.events("threshold_change")
    assert len(overrides) == 1 and "-> 0.0100" in overrides[0]["detail"]
    dock.stop()
    assert not settings.receiving_enabled


def test_model_switch_is_logged(qtbot, window, tmp_path):
    other = make_bundle(tmp_path / "other", name="other-model").path
    with qtbot.waitSignal(window.modelReady, timeout=60000):
        window.load_model(other)
    switches = window.audit.events("model_switch")
    assert len(switches) == 1 and switches[0]["detail"].endswith("-> other-model")


def test_reads_export_from_the_dock(qtbot, window, tmp_path):
    dock = window.ensure_intake()
    messages: list[str] = []
    dock.announced.connect(messages.append)
    dock.export_reads(str(tmp_path / "labelled"))  # nothing read yet: an empty export
    assert messages[-1].startswith("Wrote 0 pneumonia and 0 normal studies")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    dock.export_reads(str(tmp_path / "busy"))
    assert "not empty" in messages[-1]
