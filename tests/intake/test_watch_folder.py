"""Watched folder: complete files once, partial files never, duplicates and restarts skipped."""

from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path

import numpy as np
from conftest import write_dicom

from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.pipeline import predictor_scorer
from pneumo_desktop.intake.receiving import ReceivingConfig, ReceivingService
from pneumo_desktop.intake.watch_folder import WatchFolder


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _watcher(folder: Path, state: Path, got: list, **kwargs) -> WatchFolder:
    return WatchFolder(folder, got.append, state_file=state, **kwargs)


def _png(path: Path, seed: int = 0) -> Path:
    import cv2

    cv2.imwrite(str(path), synthetic_chest(256, seed=seed))
    return path


def test_a_complete_file_is_handed_on_after_two_polls_once(tmp_path):
    inbox, got = tmp_path / "inbox", []
    inbox.mkdir()
    watcher = _watcher(inbox, tmp_path / "state.jsonl", got)
    _png(inbox / "a.png")
    assert watcher.poll() == []  # first sight: maybe still being written
    arrivals = watcher.poll()
    assert [a.path.name for a in arrivals] == ["a.png"] and got == arrivals
    assert arrivals[0].source == f"folder {inbox.resolve()}" and len(arrivals[0].sha256) == 64
    assert watcher.poll() == [] and watcher.poll() == []
    assert len(got) == 1


def test_a_growing_file_waits_until_its_size_is_stable(tmp_path):
    inbox, got = tmp_path / "inbox", []
    inbox.mkdir()
    watcher = _watcher(inbox, tmp_path / "state.jsonl", got)
    data = write_dicom(tmp_path / "full.dcm", synthetic_chest(256, seed=1),
                       Modality="DX", PatientID="P1").read_bytes()
    target = inbox / "incoming.dcm"
    for cut in (300, 5000, 30000, len(data)):  # a slow copy: a chunk between polls
        with open(target, "ab") as handle:
            handle.write(data[target.stat().st_size if target.exists() else 0:cut])
        assert watcher.poll() == []
    arrivals = watcher.poll()  # unchanged since the last poll: complete
    assert len(arrivals) == 1 and arrivals[0].path.read_bytes() == data
    assert arrivals[0].patient_id == "P1"


def test_partial_names_empty_and_hidden_files_are_ignored(tmp_path):
    inbox, got = tmp_path / "inbox", []
    inbox.mkdir()
    watcher = _watcher(inbox, tmp_path / "state.jsonl", got)
    dicom = write_dicom(tmp_path / "x.dcm", synthetic_chest(256, seed=2)).read_bytes()
    for name in ("study.dcm.part", "study.dcm.tmp", "download.png.crdownload", "study.dcm~"):
        (inbox / name).write_bytes(dicom)
    (inbox / ".hidden.dcm").write_bytes(dicom)
    (inbox / "empty.dcm").write_bytes(b"")
    for _ in range(3):
        assert watcher.poll() == []
    os.rename(inbox / "study.dcm.part", inbox / "study.dcm")  # the copy tool finished
    watcher.poll()
    assert [a.path.name for a in watcher.poll()] == ["study.dcm"]


def test_duplicates_are_skipped_and_state_survives_a_restart(tmp_path):
    inbox, state, got = tmp_path / "inbox", tmp_path / "state.jsonl", []
    (inbox / "sub").mkdir(parents=True)
    _png(inbox / "a.png", 1)
    _png(inbox / "sub" / "b.png", 2)
    watcher = _watcher(inbox, state, got)
    watcher.poll()
    assert sorted(a.path.name for a in watcher.poll()) == ["a.png", "b.png"]
    shutil.copy(inbox / "a.png", inbox / "a copy.png")  # same content, another name
    watcher.poll()
    assert watcher.poll() == []

    again = []  # the app restarts: nothing is handed on twice
    restarted = _watcher(inbox, state, again)
    restarted.poll()
    restarted.poll()
    assert again == []
    _png(inbox / "a.png", 3)  # new content under an old name: a new study
    _png(inbox / "c.png", 4)
    restarted.poll()
    assert sorted(a.path.name for a in restarted.poll()) == ["a.png", "c.png"]
    assert len(got) == 2 and len(again) == 2


def test_content_known_to_the_audit_log_is_not_handed_on(tmp_path):
    inbox, got = tmp_path / "inbox", []
    inbox.mkdir()
    first = _png(inbox / "first.png", 5)
    from pneumo_desktop.intake.pipeline import sha256_file

    known = {sha256_file(first)}
    watcher = _watcher(inbox, tmp_path / "state.jsonl", got, known=known.__contains__)
    _png(inbox / "second.png", 6)
    watcher.poll()
    assert [a.path.name for a in watcher.poll()] == ["second.png"]


def test_watched_files_are_scored_and_logged_once(tmp_path, tiny_predictor):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    _png(inbox / "film.png", 7)
    write_dicom(inbox / "mr.dcm", synthetic_chest(256, seed=8), Modality="MR")
    (inbox / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    config = ReceivingConfig(out, watch=[inbox], receive=False, audit_path=tmp_path / "a.sqlite",
                             poll_s=0.05)
    outcomes = []
    service = ReceivingService(config, predictor_scorer(tiny_predictor),
                               on_outcome=lambda a, o: outcomes.append(o))
    service.start()
    try:
        _wait_for(lambda: len(outcomes) == 3)
        shutil.copy(inbox / "film.png", inbox / "film again.png")
        time.sleep(0.5)  # ten polls: the copy is a duplicate
        service.pipeline.wait_idle(30)
    finally:
        service.stop()
    with AuditLog(tmp_path / "a.sqlite") as log:
        studies = {Path(s.path).name: s for s in log.studies()}
    assert sorted(studies) == ["broken.jpg", "film.png", "mr.dcm"]
    assert studies["film.png"].outcome == "scored"
    assert studies["mr.dcm"].outcome == "refused" and "modality MR" in studies["mr.dcm"].detail
    assert studies["broken.jpg"].outcome == "unreadable"
    with open(out / "results.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(Path(r["path"]).name for r in rows) == sorted(studies)
    assert np.isfinite(float(next(r for r in rows if r["path"].endswith("film.png"))
                             ["probability"]))
