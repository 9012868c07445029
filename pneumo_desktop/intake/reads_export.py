"""The reviewers' reads as training labels: the studies read "pneumonia" or "normal" in the
worklist, laid out as a labelled folder (NORMAL/, PNEUMONIA/) that `calibrate`, `train
--init-from` and the wizard take as they are.

File names keep a patient's studies together for the patient-level folds without naming the
patient: `patient-<hash>_<n><suffix>`, the hash of the DICOM PatientID salted afresh for each
export (so names from two exports cannot be matched, nor a short ID guessed from its hash).
Files are hard-linked when the folder is on the same disk, else copied; "unsure" reads and
studies no longer on disk are left out and counted.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.pipeline import identifiers

FOLDERS = {"pneumonia": "PNEUMONIA", "normal": "NORMAL"}


@dataclass
class ReadsExport:
    folder: Path
    counts: dict[str, int]  # NORMAL / PNEUMONIA -> studies written
    missing: int  # read, but the file is gone
    unsure: int  # read "unsure": no label

    def summary(self) -> str:
        return (f"{self.counts['PNEUMONIA']} pneumonia and {self.counts['NORMAL']} normal "
                f"studies in {self.folder}" + (f"; {self.missing} no longer on disk"
                                               if self.missing else "")
                + (f"; {self.unsure} read 'unsure' left out" if self.unsure else ""))


def _place(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another disk, or links not allowed
        shutil.copy2(source, target)


def export_reads(audit: AuditLog, out_dir: str | os.PathLike) -> ReadsExport:
    """Write the read studies to `out_dir`/NORMAL and /PNEUMONIA (which must not exist yet or
    be empty, so an old export never mixes with a new one)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise PneumoError(f"{out} is not empty: choose a new folder for the labelled studies")
    studies = audit.reviewed_studies(include_unsure=True)
    salt = secrets.token_hex(16)
    counts = dict.fromkeys(FOLDERS.values(), 0)
    missing = unsure = 0
    for study in studies:
        if study.read not in FOLDERS:
            unsure += 1
            continue
        source = Path(study.path)
        if not source.is_file():
            missing += 1
            continue
        patient = identifiers(source)["patient_id"] or f"study:{study.sha256 or study.id}"
        key = hashlib.sha256(f"{salt}:{patient}".encode()).hexdigest()[:16]
        folder = out / FOLDERS[study.read]
        folder.mkdir(parents=True, exist_ok=True)
        counts[folder.name] += 1
        _place(source, folder / f"patient-{key}_{counts[folder.name]}{source.suffix.lower()}")
    return ReadsExport(out, counts, missing, unsure)
