"""DICOM results from the command line: `receive --send-results-to` (the PACS down while
studies arrive, the receiver restarted, then the PACS up: exactly one SR per radiograph, one
SC per scored one, the probability as in results.csv; MR still refused) and
`score --dicom-results` (the same objects written to a folder)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pydicom
from conftest import shared_data, write_dicom
from pydicom.uid import DigitalXRayImageStorageForPresentation, MRImageStorage, generate_uid

from pneumo_desktop.cli import main
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.receiver import SUCCESS
from tests.dciodvfy import our_errors
from tests.dicom_sender import send
from tests.orthanc import Orthanc

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def _radiograph(folder: Path, seed: int, age: str = "003Y") -> pydicom.Dataset:
    """A child's (or an adult's) radiograph written with pydicom; `.filename` is its file."""
    path = write_dicom(folder / f"{generate_uid()}.dcm", synthetic_chest(256, seed=seed),
                       SOPClassUID=DigitalXRayImageStorageForPresentation, Modality="DX",
                       StudyInstanceUID=generate_uid(), SeriesInstanceUID=generate_uid(),
                       PatientID=f"P{seed}", PatientName=f"Doe^Child{seed}", PatientAge=age)
    return pydicom.dcmread(path)


def _receiver(args: list[str], cwd: Path) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.Popen([sys.executable, "-m", "pneumo_desktop", "receive", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=cwd)
    banner = ""
    while "receiving as" not in banner:
        banner = proc.stderr.readline()
        assert banner, f"the receiver stopped before listening: {proc.stderr.read()}"
    return proc, int(banner.split(" on port ")[1].split(",")[0])


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    return stderr


def _numbers(items) -> dict[str, float]:
    """The SR's numeric items (Orthanc's JSON of the content tree), by concept name."""
    found = {}
    for item in items:
        if item["ValueType"] == "NUM":
            found[item["ConceptNameCodeSequence"][0]["CodeMeaning"]] = float(
                item["MeasuredValueSequence"][0]["NumericValue"])
        found.update(_numbers(item.get("ContentSequence", [])))
    return found


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_receive_with_the_pacs_down_a_restart_then_the_pacs_up(tmp_path, tiny_bundle):
    pacs = Orthanc(tmp_path / "pacs")  # ports chosen, not started: the PACS is down
    out = tmp_path / "out"
    args = ["--port", "0", "--host", HOST, "--out", str(out), "--model", str(tiny_bundle),
            "--audit-log", str(tmp_path / "audit.sqlite"), "--send-results-to",
            pacs.destination]
    proc, port = _receiver(args, tmp_path)
    try:
        sources = [_radiograph(tmp_path, 1), _radiograph(tmp_path, 2),
                   _radiograph(tmp_path, 3, age="040Y")]  # an adult: refused, not scored
        assert send(port, sources) == [SUCCESS] * 3
        _wait_for(lambda: (out / "results.csv").exists()
                  and len((out / "results.csv").read_text().splitlines()) == 4)
        mr = write_dicom(tmp_path / "mr.dcm", synthetic_chest(64, seed=4),
                         SOPClassUID=MRImageStorage, StudyInstanceUID=generate_uid())
        try:
            statuses = send(port, [mr])
        except AssertionError:  # no MR context accepted: refused at negotiation
            statuses = ["refused"]
        assert statuses != [SUCCESS]
    finally:
        stderr = _stop(proc) if proc.poll() is None else proc.stderr.read()
        proc.kill()
    assert "5 result objects wait to be sent" in stderr

    proc, port = _receiver(args, tmp_path)  # restarted with a full queue
    try:
        pacs.start()
        _wait_for(lambda: len(pacs.get("/instances")) == 5)
        time.sleep(1.0)  # nothing more arrives
        stderr = _stop(proc)
    finally:
        proc.kill()
    try:
        assert stderr.count("sent to") == 5
        with open(out / "results.csv", newline="") as handle:
            rows = {Path(r["path"]).stem: r for r in csv.DictReader(handle)}
        stored = pacs.instances_by_study()
        assert len(stored) == 3
        for source in sources:
            row = rows[source.SOPInstanceUID]
            kinds = sorted(m for m, _ in stored[source.StudyInstanceUID])
            assert kinds == (["OT", "SR"] if row["probability"] else ["SR"])
            [sr] = pacs.find(Modality="SR", StudyInstanceUID=source.StudyInstanceUID)
            values = _numbers(pacs.tags(sr["ID"])["ContentSequence"])
            if row["probability"]:
                assert values["Probability"] == float(row["probability"])
            else:
                assert values == {} and row["input_check"] == "refused"
            for modality, uid in stored[source.StudyInstanceUID]:
                [found] = pacs.find(SOPInstanceUID=uid)
                result = tmp_path / f"{uid}.dcm"
                result.write_bytes(pacs.file(found["ID"]))
                assert our_errors(result, out / source.StudyInstanceUID
                                  / f"{source.SOPInstanceUID}.dcm") == [], modality
    finally:
        pacs.stop()


def test_score_writes_dicom_results_for_dicom_inputs(tmp_path, tiny_bundle, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    real = shared_data("dicom", "cr_mono2_8bit_jpeg_1.dcm")  # an adult: refused
    (folder / real.name).write_bytes(real.read_bytes())
    child = _radiograph(folder, 1)
    cv2.imwrite(str(folder / "photo.png"), synthetic_chest(128, seed=2))
    results = tmp_path / "dicom-results"
    code = main(["score", str(folder), "--out", str(tmp_path / "r.csv"), "--model",
                 str(tiny_bundle), "--dicom-results", str(results)])
    assert code in (0, 3)
    written = {p: pydicom.dcmread(p) for p in results.glob("*/*.dcm")}
    by_study: dict[str, list[str]] = {}
    for ds in written.values():
        by_study.setdefault(ds.StudyInstanceUID, []).append(ds.Modality)
    assert sorted(by_study[child.StudyInstanceUID]) == ["OT", "SR"]
    adult = pydicom.dcmread(real, stop_before_pixels=True)
    assert by_study[adult.StudyInstanceUID] == ["SR"]  # refused: its "not scored" SR only
    assert len(by_study) == 2  # the PNG has no study
    assert "3 DICOM result objects" in capsys.readouterr().err
    for path, ds in written.items():
        source = real if ds.StudyInstanceUID == adult.StudyInstanceUID else child.filename
        assert our_errors(path, Path(source)) == []
