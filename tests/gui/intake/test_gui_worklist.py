"""Worklist model and widget (states, filter, sort, hidden patient names, Mark reviewed into the
audit log, restore from the log) and the receiver controller's signals on the GUI thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom
import pytest
from conftest import write_dicom
from pydicom.uid import generate_uid
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation
from PySide6.QtCore import Qt

from pneumo_desktop.gui.intake.receiver_controller import ReceiverController
from pneumo_desktop.gui.intake.worklist import (
    FILTERS,
    PATIENT_ID,
    PATIENT_NAME,
    PROBABILITY,
    STATE,
    WorklistModel,
    WorklistWidget,
)
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.pipeline import Arrival, Outcome
from pneumo_desktop.intake.receiving import ReceivingConfig
from pneumo_desktop.model.scoring import CSV_COLUMNS
from tests.dicom_sender import send

HOST = "127.0.0.1"


def _outcome(path: Path, probability: float | None, reason: str = "",
             refused: bool = False) -> Outcome:
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(path=str(path), threshold="0.500000", model="fake", error=reason,
               input_check="refused" if refused else "passed")
    if probability is not None:
        row.update(probability=f"{probability:.6f}",
                   prediction="PNEUMONIA" if probability >= 0.5 else "NORMAL")
    return Outcome(row, "sha256:fake")


def _film(folder: Path, seed: int, name: str = "Doe^Child") -> Path:
    return write_dicom(folder / f"film{seed}.dcm", synthetic_chest(160, seed=seed),
                       SOPClassUID=DigitalXRayImageStorageForPresentation, Modality="DX",
                       StudyInstanceUID=generate_uid(), PatientID=f"P{seed}",
                       PatientName=f"{name}{seed}", StudyDescription=f"CHEST {seed}")


def _arrive(audit: AuditLog, path: Path, minutes: int) -> Arrival:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    arrival = Arrival(path, "DICOM CR1 10.0.0.5", f"{minutes:064x}",
                      datetime(2025, 3, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes),
                      patient_id=ds.PatientID, patient_name=str(ds.PatientName),
                      study=ds.StudyDescription)
    arrival.log_id = audit.log_received(source=arrival.source, path=path,
                                        sha256=arrival.sha256)
    return arrival


@pytest.fixture
def filled(qtbot, tmp_path):
    """A worklist with four studies: flagged, normal, refused and one not scored yet."""
    audit = AuditLog(tmp_path / "audit.sqlite")
    model = WorklistModel(audit)
    widget = WorklistWidget(model)
    qtbot.addWidget(widget)
    arrivals = [_arrive(audit, _film(tmp_path, i), i) for i in range(4)]
    for arrival in arrivals:
        model.add_arrival(arrival)
    for arrival, outcome in zip(arrivals, (
            _outcome(arrivals[0].path, 0.93), _outcome(arrivals[1].path, 0.12),
            _outcome(arrivals[2].path, None, "not scored: adult patient (age 64 years)",
                     refused=True)), strict=False):
        model.set_outcome(arrival, outcome)
        audit.log_outcome(arrival.log_id, event=outcome.event, path=arrival.path,
                          probability=outcome.probability, decision=outcome.decision,
                          detail=outcome.reason)
    yield audit, model, widget, arrivals
    audit.close()


def _visible(widget: WorklistWidget, column: int) -> list[str]:
    proxy = widget.proxy
    return [proxy.data(proxy.index(r, column)) for r in range(proxy.rowCount())]


def test_states_sort_and_filter(filled):
    _, model, widget, _ = filled
    assert [model.row(i).state for i in range(4)] == ["flagged", "scored", "not scored", "new"]
    assert model.row(2).state_text() == "not scored: adult patient (age 64 years)"
    assert _visible(widget, PATIENT_ID) == ["P3", "P2", "P1", "P0"]  # newest first
    widget.table.sortByColumn(PROBABILITY, Qt.SortOrder.DescendingOrder)
    assert _visible(widget, PROBABILITY)[:2] == ["93 %", "12 %"]  # as the result panel writes
    labels = [label for label, _ in FILTERS]
    widget.filter_combo.setCurrentIndex(labels.index("Pneumonia suspected"))
    assert _visible(widget, PATIENT_ID) == ["P0"]
    widget.filter_combo.setCurrentIndex(labels.index("Not scored"))
    assert _visible(widget, STATE) == ["not scored: adult patient (age 64 years)"]
    widget.filter_combo.setCurrentIndex(labels.index("New"))
    assert _visible(widget, PATIENT_ID) == ["P3"]
    assert "1 pneumonia suspected" in widget.summary_label.text()


def test_patient_names_are_hidden_unless_asked(filled):
    _, model, widget, _ = filled
    assert widget.table.isColumnHidden(PATIENT_NAME)
    assert set(_visible(widget, PATIENT_NAME)) == {""}  # not even in the model's data
    widget.names_box.setChecked(True)
    assert not widget.table.isColumnHidden(PATIENT_NAME)
    assert sorted(_visible(widget, PATIENT_NAME)) == [f"Doe Child{i}" for i in range(4)]
    widget.names_box.setChecked(False)
    assert widget.table.isColumnHidden(PATIENT_NAME) and set(_visible(widget,
                                                                      PATIENT_NAME)) == {""}


def test_mark_reviewed_writes_the_read_to_the_audit_log(filled, qtbot):
    audit, model, widget, arrivals = filled
    assert not widget.review_button.isEnabled()
    flagged = widget.proxy.mapFromSource(model.index(0, 0))
    widget.table.selectRow(flagged.row())
    assert widget.review_button.isEnabled()
    with qtbot.waitSignal(widget.reviewed) as signal:
        widget.read_actions["pneumonia"].trigger()
    assert signal.args == [arrivals[0].log_id, "pneumonia"]
    assert model.row(0).state == "reviewed" and model.row(0).state_text() == \
        "reviewed: pneumonia"
    assert "P0" not in _visible(widget, PATIENT_ID)  # "Awaiting review" hides it
    labels = [audit_row.read for audit_row in audit.reviewed_studies()]
    assert labels == ["pneumonia"]
    assert audit.reviewed_studies()[0].path == str(arrivals[0].path)
    with pytest.raises(ValueError):
        model.mark_reviewed([1], "probably")


def test_the_worklist_is_restored_from_the_audit_log(filled, qtbot):
    audit, model, _, _ = filled
    model.mark_reviewed([1], "normal")
    restored = WorklistModel(audit)
    assert restored.load() == 4
    states = [restored.row(i).state for i in range(4)]
    assert states == ["flagged", "reviewed", "not scored", "new"]
    index = restored.index(2, PATIENT_ID)
    assert restored.data(index) == "P2"  # read from the stored DICOM when shown
    assert restored.data(restored.index(2, STATE)) == \
        "not scored: adult patient (age 64 years)"
    assert restored.load() == 0  # nothing listed twice


def test_controller_feeds_the_worklist_on_the_gui_thread(qtbot, tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite")
    model = WorklistModel(audit)
    controller = ReceiverController(audit)  # no scorer yet: arrivals wait for the model
    threads, flagged = [], []
    controller.arrived.connect(model.add_arrival)
    controller.scored.connect(model.set_outcome)
    controller.scored.connect(lambda a, o: threads.append(threading.current_thread()))
    controller.flagged.connect(lambda a, o: flagged.append(a.patient_id))
    config = ReceivingConfig(tmp_path / "received", port=0, host=HOST,
                             audit_path=tmp_path / "unused.sqlite")
    with qtbot.waitSignal(controller.runningChanged):
        controller.start(config)
    try:
        films = [_film(tmp_path, i) for i in range(3)]
        assert send(controller.port, films) == [0, 0, 0]
        qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=10000)
        assert {model.row(i).state for i in range(3)} == {"new"}

        def scorer(paths):
            return [_outcome(p, 0.9 if "P1" in str(pydicom.dcmread(
                p, stop_before_pixels=True).PatientID) else 0.1) for p in paths]

        controller.set_scorer(scorer)  # the model is loaded: the waiting batch is scored
        qtbot.waitUntil(lambda: all(model.row(i).outcome for i in range(3)), timeout=10000)
    finally:
        with qtbot.waitSignal(controller.runningChanged):
            controller.stop()
    assert threads and all(t is threading.main_thread() for t in threads)
    assert flagged == ["P1"]
    assert sorted(model.row(i).state for i in range(3)) == ["flagged", "scored", "scored"]
    assert not (tmp_path / "unused.sqlite").exists()  # the controller's log is used
    assert len(audit.events("received")) == 3 and len(audit.events("scored")) == 3
    audit.close()


def test_controller_stop_without_a_model_leaves_studies_for_the_next_start(qtbot, tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite")
    controller = ReceiverController(audit)
    config = ReceivingConfig(tmp_path / "received", port=0, host=HOST)
    controller.start(config)
    try:
        assert send(controller.port, [_film(tmp_path, 5)]) == [0]
        qtbot.waitUntil(lambda: len(audit.events("received")) == 1, timeout=10000)
    finally:
        controller.stop()
    assert not controller.running and audit.unscored()

    model = WorklistModel(audit)
    controller.arrived.connect(model.add_arrival)
    controller.scored.connect(model.set_outcome)
    controller.set_scorer(lambda paths: [_outcome(p, 0.2) for p in paths])
    recovered = controller.start(config)
    try:
        assert len(recovered) == 1
        qtbot.waitUntil(lambda: model.rowCount() == 1 and bool(model.row(0).outcome),
                            timeout=10000)
    finally:
        controller.stop()
    assert audit.unscored() == [] and len(audit.events("received")) == 1
    audit.close()
