"""Reviewers' reads become a labelled folder that training and calibration take as it is."""

from __future__ import annotations

import pytest
from conftest import write_dicom

from pneumo_desktop.cli import main
from pneumo_desktop.errors import PneumoError
from pneumo_desktop.evaluation.datasets import scan_dataset
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.reads_export import export_reads


@pytest.fixture
def audit(tmp_path):
    """Ten received DICOMs: patient P1 twice, one read "unsure", one file since deleted."""
    log = AuditLog(tmp_path / "audit.sqlite")
    reads = [("P1", "pneumonia"), ("P1", "pneumonia"), ("P5", "pneumonia"), ("P6", "pneumonia"),
             ("P2", "normal"), ("P7", "normal"), ("P8", "normal"), ("P9", "normal"),
             ("P3", "unsure"), ("P4", "normal")]
    for i, (patient, read) in enumerate(reads):
        (tmp_path / "received").mkdir(exist_ok=True)
        path = write_dicom(tmp_path / "received" / f"{i}.dcm", synthetic_chest(128, seed=i),
                           PatientID=patient, PatientName=f"Secret^Name{i}")
        ref = log.log_received(source="DICOM CR1", path=path, sha256=f"{i:064x}")
        log.log_read(ref, read)
    (tmp_path / "received" / "9.dcm").unlink()
    yield log
    log.close()


def test_reads_become_classes_with_patients_kept_together(audit, tmp_path):
    result = export_reads(audit, tmp_path / "labelled")
    assert result.counts == {"NORMAL": 4, "PNEUMONIA": 4}
    assert (result.missing, result.unsure) == (1, 1)
    scan = scan_dataset(tmp_path / "labelled")
    assert scan.class_counts() == {"NORMAL": 4, "PNEUMONIA": 4}
    patients = {s.patient for s in scan.samples if s.label == 1}
    assert len(patients) == 3  # P1's two studies are one patient for the folds
    names = " ".join(p.name for p in (tmp_path / "labelled").rglob("*"))
    assert "P1" not in names and "Secret" not in names and "patient-" in names


def test_salted_names_differ_between_exports_and_the_folder_must_be_new(audit, tmp_path):
    first = sorted(p.name for p in export_reads(audit, tmp_path / "a").folder.rglob("*.dcm"))
    second = sorted(p.name for p in export_reads(audit, tmp_path / "b").folder.rglob("*.dcm"))
    assert first != second
    with pytest.raises(PneumoError, match="not empty"):
        export_reads(audit, tmp_path / "a")


def test_cli_reads(audit, tmp_path, capsys):
    assert main(["reads", "--out", str(tmp_path / "out"), "--audit-log",
                 str(audit.path)]) == 0
    assert "4 pneumonia and 4 normal studies" in capsys.readouterr().out
