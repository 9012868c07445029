"""A DICOM CD or DVD as clinics receive it — a DICOMDIR and extension-less files in nested
folders, written here with pydicom's FileSet — is scored as a folder (issue 23)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.uid import (
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    generate_uid,
)

from pneumo_desktop.cli import main
from pneumo_desktop.imaging.discovery import collect_inputs
from pneumo_desktop.imaging.synthetic import synthetic_chest


def _image(patient: str, study: str, modality: str, number: int, pixels: np.ndarray,
           tiff_preamble: bool = False) -> Dataset:
    """One single-frame image with the tags a FileSet needs for its records."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage if modality == "CT" else DigitalXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientID, ds.PatientName, ds.PatientAge = patient, f"Test^{patient}", "004Y"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240105", "101500", "1", ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 1, number
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = pixels.tobytes()
    if tiff_preamble:  # a "dual-personality" file: TIFF header in the DICOM preamble
        ds.preamble = b"II*\x00" + bytes(124)
    return ds


@pytest.fixture
def cd(tmp_path) -> Path:
    """Two children's chest films and a CT slice, on a CD written by pydicom's FileSet."""
    fs = FileSet()
    study = generate_uid()
    fs.add(_image("P1", study, "DX", 1, synthetic_chest(200, seed=1)))
    fs.add(_image("P1", study, "DX", 2, synthetic_chest(200, seed=2, opacity=True),
                  tiff_preamble=True))
    fs.add(_image("P2", generate_uid(), "CT", 1, synthetic_chest(128, seed=3)))
    root = tmp_path / "CDROM"
    fs.write(root)
    return root


def test_fileset_writes_what_a_cd_holds(cd):
    files = sorted(p.relative_to(cd).as_posix() for p in cd.rglob("*") if p.is_file())
    assert files[0] == "DICOMDIR" and len(files) == 4
    assert all("." not in Path(f).name and f.count("/") == 3 for f in files[1:])
    heads = [(cd / f).read_bytes()[:4] for f in files[1:]]
    assert heads.count(b"II*\x00") == 1  # FileSet kept the TIFF preamble


def test_cd_folder_finds_the_images_not_the_index(cd):
    found = collect_inputs([cd])
    assert len(found) == 3 and all(p.name.startswith("IM") for p in found)


def test_cd_folder_is_scored(cd, tiny_bundle, tmp_path):
    out = tmp_path / "cd.csv"
    assert main(["score", str(cd), "--out", str(out), "--model", str(tiny_bundle)]) == 3
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and not any(Path(r["path"]).name == "DICOMDIR" for r in rows)
    scored = [r for r in rows if r["probability"]]
    refused = [r for r in rows if r["input_check"] == "refused"]
    assert len(scored) == 2  # both DX films, the dual-personality one too
    assert len(refused) == 1 and refused[0]["error"].startswith(
        "not scored: DICOM modality CT (computed tomography)")


def test_dicomdir_under_another_name_is_skipped(cd):
    (cd / "DICOMDIR").rename(cd / "INDEX")
    found = collect_inputs([cd])
    assert len(found) == 3 and not any(p.name == "INDEX" for p in found)
