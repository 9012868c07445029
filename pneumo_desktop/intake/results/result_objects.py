"""The DICOM result objects of one scored or refused radiograph (an SR always, a Secondary
Capture when it was scored and its heat map is at hand), and writing them to a folder."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pydicom import Dataset

from pneumo_desktop.atomic import atomic_write_bytes
from pneumo_desktop.imaging.image_io import sniff_format
from pneumo_desktop.intake.results.results_dicom import Finding, has_study


def read_header(path: str | Path) -> Dataset | None:
    """The DICOM header of `path`, or None for a file that is not DICOM."""
    import pydicom

    try:
        with open(path, "rb") as handle:
            if sniff_format(handle.read(132)) != "DICOM":
                return None
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # not DICOM or unreadable
        return None


def result_objects(source: Dataset, finding: Finding, gray: np.ndarray | None = None,
                   heatmap: np.ndarray | None = None) -> list[Dataset]:
    """[SR] or [SR, SC] for `source` ([] when it has no study and instance UID)."""
    from pneumo_desktop.intake.results.result_sc import make_sc
    from pneumo_desktop.intake.results.result_sr import make_sr

    if not has_study(source):
        return []
    objects: list[Dataset] = [make_sr(source, finding)]
    if finding.scored and gray is not None and heatmap is not None:
        objects.append(make_sc(source, gray, heatmap, finding))
    return objects


def encode(ds: Dataset) -> bytes:
    """A result object as a DICOM file (with its file meta header)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def kind_of(ds: Dataset) -> str:
    """'sr' or 'sc'."""
    return "sr" if ds.Modality == "SR" else "sc"


def write_results(folder: str | Path, objects: list[Dataset]) -> list[Path]:
    """Each object as `<folder>/<StudyInstanceUID>/<SOPInstanceUID>.dcm` (atomically; a study
    UID that is no UID, so no safe folder name, is replaced by a hash of it)."""
    from pneumo_desktop.intake.receiver import is_uid
    from pneumo_desktop.intake.results.results_dicom import derived_uid

    written = []
    for ds in objects:
        study = str(ds.StudyInstanceUID)
        target = (Path(folder) / (study if is_uid(study) else derived_uid(study))
                  / f"{ds.SOPInstanceUID}.dcm")
        atomic_write_bytes(target, encode(ds))
        written.append(target)
    return written
