"""DICOM receiver on the loopback address: a real pynetdicom sender pushes the real DICOMs and
files written here; each instance is stored once, scored or refused, and logged once."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from conftest import shared_data, write_dicom
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.sop_class import (
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    MRImageStorage,
)

from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.pipeline import Outcome, predictor_scorer
from pneumo_desktop.intake.receiver import (
    CANNOT_UNDERSTAND,
    DATASET_DOES_NOT_MATCH,
    OUT_OF_RESOURCES,
    SOP_CLASS_NOT_SUPPORTED,
    SUCCESS,
    StorageReceiver,
)
from pneumo_desktop.intake.receiving import ReceivingConfig, ReceivingService
from pneumo_desktop.model.scoring import CSV_COLUMNS
from tests.dicom_sender import send

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def _dataset(folder: Path, sop_class=DigitalXRayImageStorageForPresentation, size: int = 256,
             seed: int = 0, **tags) -> pydicom.Dataset:
    """A radiograph written with pydicom and read back, as a modality would send it."""
    tags = {"Modality": "DX", "StudyInstanceUID": generate_uid(), "PatientID": f"P{seed}",
            "PatientName": f"Doe^Child{seed}", "StudyDescription": "CHEST PA", **tags}
    path = write_dicom(folder / f"{generate_uid()}.dcm", synthetic_chest(size, seed=seed),
                       SOPClassUID=sop_class, **tags)
    return pydicom.dcmread(path)


def _stored(out: Path) -> list[Path]:
    return sorted(out.glob("*/*.dcm"))


def _target(out: Path, ds: pydicom.Dataset) -> Path:
    return out / ds.StudyInstanceUID / f"{ds.SOPInstanceUID}.dcm"


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _outcome(path: Path, probability: float = 0.2) -> Outcome:
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(path=str(path), probability=f"{probability:.6f}", threshold="0.500000",
               prediction="PNEUMONIA" if probability >= 0.5 else "NORMAL", model="fake",
               input_check="passed")
    return Outcome(row, "sha256:fake")


def _receiver(out: Path, got: list, **kwargs) -> StorageReceiver:
    receiver = StorageReceiver(out, got.append, port=0, host=HOST, **kwargs)
    receiver.start()
    return receiver


def test_real_and_written_dicoms_are_stored_scored_and_logged_once(tmp_path, tiny_predictor):
    real = [pydicom.dcmread(p) for p in sorted(shared_data("dicom").glob("*.dcm"))]
    written = [_dataset(tmp_path, seed=1, PatientAge="004Y"),
               _dataset(tmp_path, ComputedRadiographyImageStorage, seed=2, Modality="CR"),
               _dataset(tmp_path, seed=3, Modality="MR")]  # wrong Modality tag: refused
    sent = real + written
    out, audit_path = tmp_path / "out", tmp_path / "audit.sqlite"
    outcomes: list[Outcome] = []
    config = ReceivingConfig(out, port=0, host=HOST, audit_path=audit_path, batch_size=4)
    service = ReceivingService(config, predictor_scorer(tiny_predictor),
                               on_outcome=lambda a, o: outcomes.append(o))
    service.start()
    try:
        assert send(service.port, sent) == [SUCCESS] * len(sent)
        assert send(service.port, sent[:2] + written[:1]) == [SUCCESS] * 3  # sent again
        _wait_for(lambda: len(outcomes) == len(sent))
        assert service.pipeline.wait_idle(30)
    finally:
        service.stop()

    stored = _stored(out)
    assert stored == sorted(_target(out, ds) for ds in sent)  # each once, by study
    for ds in sent:
        back = pydicom.dcmread(_target(out, ds))
        assert back.PixelData == ds.PixelData
        assert back.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert not list(out.rglob("*.part"))

    with AuditLog(audit_path) as log:
        studies = log.studies()
        events = log.events()
    assert sorted(Path(s.path) for s in studies) == stored
    assert all(s.outcome for s in studies)
    outcome_refs = [e["ref"] for e in events if e["event"] != "received"]
    assert sorted(outcome_refs) == sorted(s.id for s in studies)  # one outcome each
    by_path = {Path(s.path): s for s in studies}
    mr = by_path[_target(out, written[2])]
    assert mr.outcome == "refused" and "modality MR" in mr.detail
    assert by_path[_target(out, written[0])].outcome == "scored"
    adults = [s for s in studies if "adult patient" in s.detail]
    assert len(adults) == 5 and all(s.outcome == "refused" for s in adults)
    assert all(s.source == f"DICOM MODALITY {HOST}" for s in studies)

    with open(out / "results.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert sorted(Path(r["path"]) for r in rows) == stored
    assert {r["input_check"] for r in rows} <= {"passed", "refused",
                                                "passed (tags and pixels; this model has no "
                                                "learned check)"}


def test_other_sop_classes_are_refused_at_negotiation(tmp_path):
    got, out = [], tmp_path / "out"
    receiver = _receiver(out, got)
    try:
        ct = _dataset(tmp_path, CTImageStorage, Modality="CT")
        dx = _dataset(tmp_path, seed=1)
        ae = AE(ae_title="MODALITY")
        for sop_class in (CTImageStorage, MRImageStorage, DigitalXRayImageStorageForPresentation):
            ae.add_requested_context(sop_class)
        assoc = ae.associate(HOST, receiver.port, ae_title="PNEUMO")
        assert assoc.is_established
        rejected = {str(c.abstract_syntax) for c in assoc.rejected_contexts}
        accepted = {str(c.abstract_syntax) for c in assoc.accepted_contexts}
        assert rejected == {CTImageStorage, MRImageStorage}
        assert accepted == {DigitalXRayImageStorageForPresentation}
        with pytest.raises(ValueError, match="presentation context"):
            assoc.send_c_store(ct)
        assert assoc.send_c_store(dx).Status == SUCCESS
        assoc.release()

        only_ct = AE(ae_title="MODALITY")
        only_ct.add_requested_context(CTImageStorage)
        assoc = only_ct.associate(HOST, receiver.port, ae_title="PNEUMO")
        assert not assoc.is_established
    finally:
        receiver.stop()
    assert _stored(out) == [_target(out, dx)] and [a.path for a in got] == _stored(out)


def test_real_non_chest_dicoms_are_refused(tmp_path):
    datasets = [pydicom.dcmread(p) for p in sorted(shared_data("not_chest").glob("*.dcm"))]
    others = [ds for ds in datasets if not ds.SOPClassUID.name.startswith("Secondary")]
    assert {ds.Modality for ds in others} >= {"CT", "MR"}
    got, out = [], tmp_path / "out"
    receiver = _receiver(out, got)
    try:
        ae = AE(ae_title="MODALITY")
        for sop_class in {str(ds.SOPClassUID) for ds in others}:
            ae.add_requested_context(sop_class)
        assoc = ae.associate(HOST, receiver.port, ae_title="PNEUMO")
        assert not assoc.is_established  # no context accepted
    finally:
        receiver.stop()
    assert _stored(out) == [] and got == []


def test_the_handler_answers_failure_statuses(tmp_path):
    receiver = StorageReceiver(tmp_path / "out", lambda a: None, port=0, host=HOST)
    ds = _dataset(tmp_path)
    encoded = Path(tmp_path / "x.dcm")
    ds.save_as(encoded)

    def event(sop_class, sop_instance=ds.SOPInstanceUID, data=None):
        request = SimpleNamespace(AffectedSOPClassUID=sop_class,
                                  AffectedSOPInstanceUID=sop_instance)
        requestor = SimpleNamespace(ae_title="MODALITY", address=HOST)
        return SimpleNamespace(request=request, assoc=SimpleNamespace(requestor=requestor),
                               encoded_dataset=lambda: data or encoded.read_bytes())

    assert receiver.handle_store(event(CTImageStorage)) == SOP_CLASS_NOT_SUPPORTED
    assert receiver.handle_store(event(ComputedRadiographyImageStorage)) == \
        DATASET_DOES_NOT_MATCH  # the request says CR, the dataset is DX
    assert receiver.handle_store(event(DigitalXRayImageStorageForPresentation,
                                       sop_instance="1.2.3")) == DATASET_DOES_NOT_MATCH
    assert receiver.handle_store(event(DigitalXRayImageStorageForPresentation,
                                       data=b"\x00" * 10)) in (CANNOT_UNDERSTAND,
                                                               DATASET_DOES_NOT_MATCH)
    assert _stored(tmp_path / "out") == []
    assert receiver.handle_store(event(DigitalXRayImageStorageForPresentation)) == SUCCESS
    assert _stored(tmp_path / "out") == [_target(tmp_path / "out", ds)]


def test_calling_ae_allow_list_and_called_ae(tmp_path):
    got = []
    receiver = _receiver(tmp_path / "out", got, allowed_callers=["CR1"])
    try:
        ds = _dataset(tmp_path)
        with pytest.raises(AssertionError, match="association refused"):
            send(receiver.port, [ds], calling="INTRUDER")
        with pytest.raises(AssertionError, match="association refused"):
            send(receiver.port, [ds], calling="CR1", called="OTHER")
        assert send(receiver.port, [ds], calling="CR1") == [SUCCESS]
    finally:
        receiver.stop()
    assert [a.source for a in got] == [f"DICOM CR1 {HOST}"]


def test_a_failed_write_leaves_no_file_and_is_answered_with_failure(tmp_path, monkeypatch):
    from pneumo_desktop.intake import receiver as receiver_module

    got, out = [], tmp_path / "out"
    receiver = _receiver(out, got)
    ds = _dataset(tmp_path)
    try:
        def disk_full(*args):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(receiver_module.os, "replace", disk_full)
        assert send(receiver.port, [ds]) == [OUT_OF_RESOURCES]
        monkeypatch.undo()
        assert list(out.rglob("*")) == [out / ds.StudyInstanceUID]  # no file, no temporary
        assert send(receiver.port, [ds]) == [SUCCESS]  # the sender's retry is stored
    finally:
        receiver.stop()
    assert _stored(out) == [_target(out, ds)] and len(got) == 1


_SERVE = """
import sys, time
from pneumo_desktop.intake.receiver import StorageReceiver
receiver = StorageReceiver(sys.argv[1], lambda arrival: None, port=0, host="127.0.0.1")
receiver.start()
print(receiver.port, flush=True)
time.sleep(600)
"""


def test_a_receiver_killed_mid_transfer_leaves_no_partial_file_and_restarts(tmp_path):
    out = tmp_path / "out"
    big = _dataset(tmp_path, size=4000, seed=4)  # 16 MB of pixels: about 1000 PDUs
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(out)], stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        port = int(proc.stdout.readline())
        sent = {"pdus": 0}

        def kill_after_some_data(event) -> None:
            if isinstance(event.pdu, P_DATA_TF):
                sent["pdus"] += 1
                if sent["pdus"] == 100:
                    os.kill(proc.pid, signal.SIGKILL)

        statuses = send(port, [big], handlers=[(evt.EVT_PDU_SENT, kill_after_some_data)])
        assert statuses == [None]  # no answer: the sender keeps the study to send again
        proc.wait(10)
    finally:
        proc.kill()
        proc.wait()
    assert sent["pdus"] >= 100
    assert _stored(out) == []
    # a crash while writing leaves a temporary behind; a restart removes it
    study = out / big.StudyInstanceUID
    study.mkdir(parents=True, exist_ok=True)
    leftover = study / f".{big.SOPInstanceUID}.dcm.x1y2z3.part"
    leftover.write_bytes(b"DICM partial")

    got = []
    receiver = _receiver(out, got)
    try:
        assert not leftover.exists()
        assert send(receiver.port, [big]) == [SUCCESS]
    finally:
        receiver.stop()
    assert _stored(out) == [_target(out, big)]
    assert pydicom.dcmread(_target(out, big)).PixelData == big.PixelData
    assert not list(out.rglob("*.part"))


def test_receiving_goes_on_while_a_batch_is_scored(tmp_path):
    release, scored_batches = threading.Event(), []

    def slow_scorer(paths):
        release.wait(60)  # scoring is stuck until the sender has finished
        scored_batches.append(len(paths))
        return [_outcome(p) for p in paths]

    config = ReceivingConfig(tmp_path / "out", port=0, host=HOST,
                             audit_path=tmp_path / "a.sqlite", batch_size=4)
    service = ReceivingService(config, slow_scorer)
    service.start()
    try:
        datasets = [_dataset(tmp_path, size=128, seed=i) for i in range(12)]
        assert send(service.port, datasets) == [SUCCESS] * 12
        assert scored_batches == []
        release.set()
        assert service.pipeline.wait_idle(30)
    finally:
        service.stop()
    assert sum(scored_batches) == 12 and max(scored_batches) <= 4


def test_a_restart_scores_what_the_last_run_left(tmp_path):
    out, audit_path = tmp_path / "out", tmp_path / "a.sqlite"
    received = []
    config = ReceivingConfig(out, port=0, host=HOST, audit_path=audit_path)
    service = ReceivingService(config, lambda paths: iter(()), on_arrival=received.append)
    service.pipeline.stop()  # nothing scores: as if the app died after storing
    service.receiver.start()
    try:
        datasets = [_dataset(tmp_path, size=128, seed=i) for i in range(3)]
        assert send(service.receiver.port, datasets) == [SUCCESS] * 3
    finally:
        service.receiver.stop()
    service.audit.close()
    assert len(received) == 3
    # a fourth instance reached the disk but not the log (stopped between the two)
    extra = _dataset(tmp_path, size=128, seed=9)
    _target(out, extra).parent.mkdir(parents=True)
    extra.save_as(_target(out, extra))

    outcomes = []
    service = ReceivingService(config, lambda paths: [_outcome(p) for p in paths],
                               on_outcome=lambda a, o: outcomes.append(o))
    recovered = service.start()
    try:
        _wait_for(lambda: len(outcomes) == 4)
    finally:
        service.stop()
    assert len(recovered) == 4
    with AuditLog(audit_path) as log:
        studies = log.studies()
    assert len(studies) == 4 and all(s.outcome == "scored" for s in studies)
    assert sorted(Path(s.path) for s in studies) == _stored(out)


def test_cli_receive_until_sigterm(tmp_path, tiny_bundle):
    out, audit_path = tmp_path / "out", tmp_path / "audit.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pneumo_desktop", "receive", "--port", "0", "--ae", "PNEUMO",
         "--out", str(out), "--model", str(tiny_bundle), "--host", HOST, "--allow", "CR1",
         "--audit-log", str(audit_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        banner = ""
        while "receiving as" not in banner:
            banner = proc.stderr.readline()
            assert banner, "the receiver stopped before listening"
        port = int(banner.split(" on port ")[1].split(",")[0])
        datasets = [_dataset(tmp_path, seed=i, PatientAge="003Y") for i in range(3)]
        assert send(port, datasets, calling="CR1") == [SUCCESS] * 3
        _wait_for(lambda: (out / "results.csv").exists()
                  and len((out / "results.csv").read_text().splitlines()) == 4)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "warning: any computer" not in stderr  # it listens on the loopback address only
    assert len(stdout.splitlines()) == 3 and all(" -> " in line for line in stdout.splitlines())
    lines = (out / "results.csv").read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and len(lines) == 4
    with AuditLog(audit_path) as log:
        assert len(log.events("received")) == 3 and len(log.events("scored")) == 3


def test_cli_receive_on_all_addresses_unguarded_warns(tmp_path, tiny_bundle):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pneumo_desktop", "receive", "--port", "0", "--out",
         str(tmp_path / "out"), "--model", str(tiny_bundle), "--audit-log",
         str(tmp_path / "audit.sqlite")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        lines: list[str] = []
        while not lines or "receiving as" not in lines[-1]:
            lines.append(proc.stderr.readline())
            assert lines[-1], "the receiver stopped before listening"
        assert "listening on all addresses" in lines[-1]
        warning = proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert warning.startswith("warning: any computer on the network can send studies here")
    assert "--allow-address" in warning and "--tls-ca" in warning
    assert proc.returncode == 0


def test_results_csv_header_once_and_torn_row_cut(tmp_path):
    from pneumo_desktop.intake.pipeline import ResultsCsv

    path = tmp_path / "results.csv"
    results = ResultsCsv(path)
    results.append(_outcome(tmp_path / "a.dcm").row)
    results.close()
    with open(path, "ab") as handle:
        handle.write(b"/half/written/row.dcm,0.12")  # power loss mid-row
    results = ResultsCsv(path)
    results.append(_outcome(tmp_path / "b, with comma.dcm", 0.9).row)
    results.close()
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [Path(r["path"]).name for r in rows] == ["a.dcm", "b, with comma.dcm"]
    assert rows[1]["prediction"] == "PNEUMONIA"
    assert np.isclose(float(rows[1]["probability"]), 0.9)
