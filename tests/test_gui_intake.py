"""The main window with studies arriving by themselves: the worklist dock fed by the DICOM
receiver and scored by the active model in the compute process, flagged studies announced in
the status bar, and the user's overrides (score anyway, threshold, model switch) in the audit
log."""

from __future__ import annotations

import socket

import pytest
from conftest import make_bundle, write_dicom
from dicom_sender import send
from pydicom.uid import generate_uid
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation
from PySide6.QtCore import QSettings

from pneumo_desktop.core.synthetic import synthetic_chest
from pneumo_desktop.gui.main_window import MainWindow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def window(qtbot, tmp_path, tiny_bundle, monkeypatch):
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(model_path=tiny_bundle, settings=settings, model_dirs=[])
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.is_model_ready, timeout=60000)
    yield w
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
