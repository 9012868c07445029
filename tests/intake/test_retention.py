"""Retention: received images older than N days are deleted, results.csv and the audit log
keep their rows and the log records the purge; images whose results wait to be sent (the
outbound queue's state files) or that are not scored yet are kept."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pydicom
import pytest
from conftest import write_dicom
from pydicom.uid import generate_uid
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation

from pneumo_desktop.cli.main import main
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.pipeline import Outcome
from pneumo_desktop.intake.receiver import SUCCESS
from pneumo_desktop.intake.receiving import ReceivingConfig, ReceivingService
from pneumo_desktop.intake.retention import (
    OUTBOUND,
    PURGE,
    PendingUnknown,
    RetentionTimer,
    pending_sources,
    purge,
)
from pneumo_desktop.model.scoring import CSV_COLUMNS
from tests.dicom_sender import send

DAY = 86400


def _outcome(path: Path) -> Outcome:
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(path=str(path), probability="0.200000", threshold="0.500000",
               prediction="NORMAL", model="fake", input_check="passed")
    return Outcome(row, "sha256:fake")


def _dataset(folder: Path, seed: int) -> pydicom.Dataset:
    path = write_dicom(folder / f"{generate_uid()}.dcm", synthetic_chest(96, seed=seed),
                       SOPClassUID=DigitalXRayImageStorageForPresentation, Modality="DX",
                       StudyInstanceUID=generate_uid(), PatientName=f"Doe^Child{seed}")
    return pydicom.dcmread(path)


def _receive(tmp_path: Path, n: int, score: bool = True) -> tuple[Path, Path, list[Path]]:
    """n studies received and scored by the real receiver: (store, audit log, stored files)."""
    store, audit_path = tmp_path / "store", tmp_path / "audit.sqlite"
    config = ReceivingConfig(store, port=0, host="127.0.0.1", audit_path=audit_path)
    service = ReceivingService(config, lambda paths: [_outcome(p) for p in paths])
    if not score:
        service.pipeline.stop()
    service.start() if score else service.receiver.start()
    try:
        datasets = [_dataset(tmp_path, seed) for seed in range(n)]
        assert send(service.port, datasets) == [SUCCESS] * n
        if score:
            assert service.pipeline.wait_idle(30)
    finally:
        service.stop() if score else (service.receiver.stop(), service.audit.close())
    files = [store / ds.StudyInstanceUID / f"{ds.SOPInstanceUID}.dcm" for ds in datasets]
    assert all(f.is_file() for f in files)
    return store, audit_path, files


def _age(path: Path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when))


def test_purge_deletes_old_images_keeps_rows_and_pending_ones(tmp_path, capsys):
    store, audit_path, files = _receive(tmp_path, 5)
    for f in files[:4]:
        _age(f, 40)  # files[4] is recent
    outbound = store / OUTBOUND
    outbound.mkdir()
    def state(source: Path, state: str, kind: str = "sr") -> str:  # as intake/results/outbound.py
        return json.dumps({"key": f"{source.stem}.{kind}", "kind": kind, "source": str(source),
                           "sop_instance_uid": "2.25.1", "state": state, "attempts": 1})

    (outbound / "sr-1.json").write_text(state(files[0], "waiting"))
    (outbound / "sr-2.json").write_text(json.dumps(
        {"source_sop_instance_uid": files[1].stem}))  # no state: kept
    (outbound / "sc-2.json").write_text(state(files[1], "failed", "sc"))  # waits for the user
    (outbound / "sr-3.json").write_text(state(files[2], "sent"))  # no longer holds it
    (outbound / "sr-3.dicom").write_bytes(b"DICM")
    (outbound / "sr-3.json.part").write_text("{half")  # being written: not a state file
    assert pending_sources(store) == {files[0].resolve(), files[1].resolve()}
    results_before = (store / "results.csv").read_bytes()
    with AuditLog(audit_path) as log:
        events_before = log.events()

    assert main(["purge", str(store), "--older-than", "30", "--audit-log",
                 str(audit_path)]) == 0
    assert "deleted 2 images" in capsys.readouterr().out
    assert [f.exists() for f in files] == [True, True, False, False, True]
    assert not files[2].parent.exists()  # the emptied study folder goes too
    assert (store / "results.csv").read_bytes() == results_before
    assert len(results_before.decode().splitlines()) == 6
    with AuditLog(audit_path) as log:
        events = log.events()
        assert events[:len(events_before)] == events_before
        event, = log.events(PURGE)
        assert "deleted 2 images" in event["detail"] and "kept 2 waiting to be sent" in \
            event["detail"] and event["path"] == str(store.resolve())
        assert log.verify().intact

    (outbound / "sr-1.json").unlink()  # sent
    assert purge(store, 0).deleted == 2  # files[0] and the recent one; files[1] still waits
    assert [f.exists() for f in files] == [False, True, False, False, False]


def test_unscored_images_and_an_unreadable_queue_are_kept(tmp_path):
    store, audit_path, files = _receive(tmp_path, 2, score=False)
    with AuditLog(audit_path) as log:
        result = purge(store, 0, log)
        assert (result.deleted, result.kept_unscored) == (0, 2)
    (store / OUTBOUND).mkdir()
    (store / OUTBOUND / "x.json").write_text("{not json")
    with pytest.raises(PendingUnknown, match="x.json"):
        purge(store, 0)
    assert all(f.exists() for f in files)
    assert main(["purge", str(store), "--older-than", "0", "--audit-log",
                 str(audit_path)]) == 2


def _wait_gone(path: Path) -> None:
    deadline = time.monotonic() + 30
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_receiving_service_and_its_timer_purge_by_themselves(tmp_path):
    store, audit_path, files = _receive(tmp_path, 3)
    _age(files[0], 3)
    config = ReceivingConfig(store, port=0, host="127.0.0.1", audit_path=audit_path,
                             retention_days=2)
    service = ReceivingService(config, lambda paths: [_outcome(p) for p in paths])
    service.start()  # purges at start, then hourly
    try:
        _wait_gone(files[0])
    finally:
        service.stop()
    assert not files[0].exists() and files[1].exists()
    _age(files[1], 3)
    with AuditLog(audit_path) as log:
        timer = RetentionTimer(store, 2, log, interval_s=0.05)
        timer.start()
        _wait_gone(files[1])
        time.sleep(0.2)  # a few empty rounds
        timer.stop()
        assert not files[1].exists() and files[2].exists()
        assert len(log.events(PURGE)) == 2  # empty rounds are not recorded
