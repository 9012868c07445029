"""Results sent to a real PACS: Orthanc started here on free loopback ports (its REST API says
what arrived). The PACS is down when studies arrive, the receiver restarts with a full queue,
the PACS refuses objects, the sender dies between the PACS's answer and its own record: each
result object arrives exactly once, in its source's study, and dciodvfy finds no error of ours.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pydicom
import pytest
from conftest import write_dicom
from pydicom.uid import DigitalXRayImageStorageForPresentation, generate_uid

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.imaging.image_io import load_xray
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import RESULT_FAILED, RESULT_SENT, AuditLog
from pneumo_desktop.intake.pipeline import Outcome
from pneumo_desktop.intake.receiver import SUCCESS
from pneumo_desktop.intake.receiving import ReceivingConfig, ReceivingService
from pneumo_desktop.intake.results.dicom_client import Destination, echo, store
from pneumo_desktop.intake.results.outbound import FAILED, SENT, WAITING, OutboundQueue
from pneumo_desktop.intake.results.result_objects import read_header, result_objects
from pneumo_desktop.intake.results.results_dicom import Finding
from pneumo_desktop.model.scoring import CSV_COLUMNS
from tests.dciodvfy import our_errors
from tests.dicom_sender import send
from tests.orthanc import Orthanc

HOST = "127.0.0.1"


@pytest.fixture
def pacs(tmp_path):
    server = Orthanc(tmp_path / "pacs")
    yield server
    server.stop()


def _radiograph(folder, seed: int, **tags) -> pydicom.Dataset:
    tags = {"SOPClassUID": DigitalXRayImageStorageForPresentation, "Modality": "DX",
            "StudyInstanceUID": generate_uid(), "SeriesInstanceUID": generate_uid(),
            "PatientID": f"P{seed}", "PatientName": f"Doe^Child{seed}", "PatientAge": "003Y",
            **tags}
    path = write_dicom(folder / f"{generate_uid()}.dcm", synthetic_chest(256, seed=seed), **tags)
    return pydicom.dcmread(path)


def _scorer(paths):
    """Scores by seed-free rules (refuses adults as the input check does), with the film and
    a heat map, as `predictor_scorer(..., heatmaps=True)` gives them."""
    outcomes = []
    for path in paths:
        row = dict.fromkeys(CSV_COLUMNS, "")
        row.update(path=str(path), threshold="0.500000", model="tiny")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.get("PatientAge") == "040Y":
            row.update(input_check="refused", error="not scored: adult patient (age 40 years)")
            outcomes.append(Outcome(row, "sha256:0123456789ab"))
            continue
        probability = 0.25 + 0.5 * (int(ds.PatientID[1:]) % 2)
        row.update(probability=f"{probability:.6f}", input_check="passed",
                   prediction="PNEUMONIA" if probability >= 0.5 else "NORMAL")
        image = load_xray(path)
        heat = np.zeros((8, 8), np.float32)
        heat[4, 3] = 1
        outcomes.append(Outcome(row, "sha256:0123456789ab", image=image.pixels, heatmap=heat))
    return outcomes


def _valid(objects: list, source: pydicom.Dataset, folder) -> None:
    """dciodvfy: no error that the source does not carry."""
    for ds in objects:
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        assert our_errors(path, source.filename) == [], ds.Modality


def _sr_content(pacs: Orthanc, instance_id: str) -> dict[str, object]:
    found: dict[str, object] = {}

    def walk(items) -> None:
        for item in items:
            name = item["ConceptNameCodeSequence"][0]["CodeMeaning"]
            if item["ValueType"] == "NUM":
                found[name] = float(item["MeasuredValueSequence"][0]["NumericValue"])
            elif item["ValueType"] == "CODE":
                found[name] = item["ConceptCodeSequence"][0]["CodeMeaning"]
            elif item["ValueType"] == "TEXT":
                found[name] = item["TextValue"]
            walk(item.get("ContentSequence", []))

    walk(pacs.tags(instance_id)["ContentSequence"])
    return found


def test_pacs_down_when_studies_arrive_then_a_restart_then_the_pacs_comes_up(tmp_path, pacs):
    out, audit_path = tmp_path / "out", tmp_path / "audit.sqlite"
    config = ReceivingConfig(out, port=0, host=HOST, audit_path=audit_path,
                             send_results_to=Destination.parse(pacs.destination),
                             retry_base_s=0.2, retry_max_s=1.0)
    service = ReceivingService(config, _scorer)
    service.start()
    try:
        sources = [_radiograph(tmp_path, seed) for seed in (1, 2)]
        sources.append(_radiograph(tmp_path, 3, PatientAge="040Y"))  # refused: adult
        assert send(service.port, sources) == [SUCCESS] * 3
        assert service.pipeline.wait_idle(60)
        counts = service.outbound.counts()
        assert counts == {WAITING: 5, SENT: 0, FAILED: 0}  # 3 SR + 2 SC, PACS down
        assert any(i.attempts >= 1 for i in service.outbound.items())
    finally:
        service.stop()

    service = ReceivingService(config, _scorer)  # the receiver starts again, queue not empty
    service.start()
    try:
        pacs.start()
        assert service.outbound.wait_idle(60)
        assert service.outbound.counts() == {WAITING: 0, SENT: 5, FAILED: 0}
    finally:
        service.stop()

    with open(out / "results.csv", newline="") as handle:
        rows = {pydicom.dcmread(r["path"]).SOPInstanceUID: r for r in csv.DictReader(handle)}
    stored = pacs.instances_by_study()
    for source in sources:
        kinds = sorted(m for m, _ in stored[source.StudyInstanceUID])
        row = rows[source.SOPInstanceUID]
        assert kinds == (["OT", "SR"] if row["probability"] else ["SR"])
        [sr] = pacs.find(Modality="SR", StudyInstanceUID=source.StudyInstanceUID)
        content = _sr_content(pacs, sr["ID"])
        if row["probability"]:
            assert content["Probability"] == float(row["probability"])
            assert content["Pneumonia"] == ("Suspected" if row["prediction"] == "PNEUMONIA"
                                            else "Not suspected")
        else:
            assert content["Pneumonia"] == "Not scored" and "Probability" not in content
            assert content["Reason not scored"] == row["error"]
        for instance in pacs.find(StudyInstanceUID=source.StudyInstanceUID):
            stored_file = tmp_path / f"{instance['ID']}.dcm"
            stored_file.write_bytes(pacs.file(instance["ID"]))
            assert our_errors(stored_file, out / source.StudyInstanceUID
                              / f"{source.SOPInstanceUID}.dcm") == []
    with AuditLog(audit_path) as log:
        assert len(log.events(RESULT_SENT)) == 5
        assert set(log.result_states().values()) == {"sent"}


def test_a_refused_object_is_kept_failed_and_sent_again_by_the_user(tmp_path):
    pacs = Orthanc(tmp_path / "pacs", max_patients=1).start()
    try:
        other = write_dicom(tmp_path / "other.dcm", synthetic_chest(64, seed=5),
                            StudyInstanceUID=generate_uid(), SeriesInstanceUID=generate_uid(),
                            PatientID="SOMEONE-ELSE")
        protected = pacs.refuse_other_patients(other.read_bytes())
        source = _radiograph(tmp_path, 1)
        finding = Finding("tiny", "sha256:ab", "passed", 0.75, 0.5, True)
        objects = result_objects(source, finding, source.pixel_array, np.ones((4, 4)))
        _valid(objects, source, tmp_path)
        with AuditLog(tmp_path / "audit.sqlite") as audit:
            queue = OutboundQueue(tmp_path / "queue", Destination.parse(pacs.destination),
                                  audit=audit, base_delay_s=0.1, max_delay_s=0.2,
                                  max_refusals=2)
            queue.start()
            try:
                queue.enqueue(objects, source="x.dcm", source_uid=source.SOPInstanceUID,
                              ref=7)
                assert queue.wait_idle(60)
                items = queue.items()
                assert [i.state for i in items] == [FAILED, FAILED]
                assert all("0xA700" in i.detail and i.refusals == 2 for i in items)
                assert all((tmp_path / "queue" / f"{i.key}.dicom").exists() for i in items)
                assert audit.result_states() == {7: "failed"}
                assert len(audit.events(RESULT_FAILED)) == 2
                assert pacs.find(StudyInstanceUID=source.StudyInstanceUID) == []

                pacs.accept_again(protected)
                assert queue.retry(ref=7) == 2
                assert queue.wait_idle(60)
                assert [i.state for i in queue.items()] == [SENT, SENT]
                assert audit.result_states() == {7: "sent"}
            finally:
                queue.stop()
        assert len(pacs.find(StudyInstanceUID=source.StudyInstanceUID)) == 2
    finally:
        pacs.stop()


def test_each_object_arrives_once_across_a_crash_and_a_second_enqueue(tmp_path, pacs):
    pacs.start()
    destination = Destination.parse(pacs.destination)
    source = _radiograph(tmp_path, 2)
    objects = result_objects(source, Finding("tiny", "sha256:ab", "passed", 0.2, 0.5, False),
                             source.pixel_array, np.ones((4, 4)))
    _valid(objects, source, tmp_path)
    folder = tmp_path / "queue"
    queue = OutboundQueue(folder, None)  # no destination yet: it only stores
    assert len(queue.enqueue(objects, source="x", source_uid=source.SOPInstanceUID)) == 2
    assert queue.enqueue(objects, source="x", source_uid=source.SOPInstanceUID) == []
    # the process died after the PACS stored them but before it wrote "sent" ...
    assert all(r.ok for r in store(destination, objects))
    # ... and another one while enqueueing (object written, state not yet)
    (folder / "1.2.3.4.sr.dicom").write_bytes(b"half")
    queue = OutboundQueue(folder, destination, base_delay_s=0.1)
    assert not (folder / "1.2.3.4.sr.dicom").exists()
    queue.start()
    try:
        assert queue.wait_idle(60)
    finally:
        queue.stop()
    assert [i.state for i in queue.items()] == [SENT, SENT]
    assert not list(folder.glob("*.dicom"))  # a sent object's file is gone, its state kept
    assert all(json.loads(p.read_text())["state"] == SENT for p in folder.glob("*.json"))
    assert len(pacs.find(StudyInstanceUID=source.StudyInstanceUID)) == 2


def test_test_connection_and_destinations(tmp_path, pacs):
    destination = Destination.parse(pacs.destination)
    assert "did not answer" in echo(destination)
    pacs.start()
    assert echo(destination) == ""
    wrong = Destination("NOT-THE-PACS", destination.host, destination.port)
    assert "rejected the association" in echo(wrong)
    assert Destination.parse("PACS@[::1]:104") == Destination("PACS", "::1", 104)
    assert str(Destination.parse(" ORTHANC@pacs.clinic.local:4242 ")) == \
        "ORTHANC@pacs.clinic.local:4242"
    for bad in ("PACS@host", "host:104", "A_TITLE_LONGER_THAN_16@h:1", "P@h:70000", "P@h:0"):
        with pytest.raises(PneumoError):
            Destination.parse(bad)


def test_non_dicom_arrivals_get_no_results(tmp_path):
    jpeg = tmp_path / "film.jpg"
    import cv2

    cv2.imwrite(str(jpeg), synthetic_chest(128, seed=0))
    assert read_header(jpeg) is None
