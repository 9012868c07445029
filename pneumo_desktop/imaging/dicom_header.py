"""A DICOM file's header without its pixels: the tags the input check reads, read first.

Reading up to the pixel data costs about a millisecond, decoding a CT slice 10-60 ms: a file
its tags refuse (a CT, an MR, a report) is refused from its header alone, also when its pixels
could not be decoded at all.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pneumo_desktop.imaging.checks import Refusal, age_in_years, check_tags
from pneumo_desktop.imaging.formats import DICOM_SUFFIXES, sniff_format

#: Tags shown to the clinician; identifying ones only on request.
DISPLAY_TAGS = ("Modality", "BodyPartExamined", "ViewPosition", "StudyDate", "Manufacturer",
                "InstitutionName", "PhotometricInterpretation", "BitsStored",
                "SeriesDescription", "ProtocolName")
PATIENT_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge")
#: Media Storage Directory Storage: the SOP class of a DICOMDIR (the index of a CD or DVD).
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_SOP_CLASS_ELEMENT = b"\x02\x00\x02\x00UI"  # (0002,0002) in the explicit little-endian meta
HEAD_BYTES = 1024  # enough for the file meta group, where a DICOMDIR names its SOP class


@dataclass(frozen=True)
class DicomHeader:
    """What the input check and the viewer need from a DICOM header."""

    tags: dict[str, str]  # DISPLAY_TAGS (and PATIENT_TAGS on request) that have a value
    age_years: float | None  # from PatientAge, else birth and study dates
    is_index: bool  # a DICOMDIR: lists the images of a CD, holds none


def header_of(ds: Any, include_patient: bool = False) -> DicomHeader:
    """The header of a parsed pydicom dataset (with or without its pixels)."""
    names = DISPLAY_TAGS + (PATIENT_TAGS if include_patient else ())
    tags = {tag: str(ds.get(tag)) for tag in names if ds.get(tag) not in (None, "")}
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None:
        tags["TransferSyntax"] = syntax.name
    age = age_in_years(_text(ds, "PatientAge"), _text(ds, "PatientBirthDate"),
                       _text(ds, "StudyDate") or _text(ds, "AcquisitionDate")
                       or _text(ds, "SeriesDate"))
    sop_class = str(getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", "")
                    or ds.get("SOPClassUID", ""))
    is_index = sop_class == DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds
    return DicomHeader(tags, age, is_index)


def read_header(path: str | os.PathLike) -> DicomHeader | None:
    """Parse a DICOM file up to its pixel data; None when pydicom cannot parse it (decoding
    then says why)."""
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    except Exception:  # a damaged header fails anywhere in the parser  # noqa: BLE001
        return None
    return header_of(ds)


def check_dicom_tags(path: str | os.PathLike) -> Refusal | None:
    """The tag check (modality, body part, view, age) on a DICOM file's header, before any
    pixel decoding. None for a file that is not DICOM, whose header cannot be parsed, that is
    a DICOMDIR, or whose tags pass: those are decoded and reported as usual."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return None
    if sniff_format(head) != "DICOM" and Path(path).suffix.lower() not in DICOM_SUFFIXES:
        return None
    header = read_header(path)
    if header is None or header.is_index:
        return None
    return check_tags(header.tags, header.age_years)


def is_dicomdir_head(head: bytes) -> bool:
    """True when a file's first HEAD_BYTES are those of a DICOMDIR: `DICM` at byte 128 and
    the Media Storage Directory SOP class in the file meta (whatever the file is called)."""
    if head[128:132] != b"DICM":
        return False
    at = head.find(_SOP_CLASS_ELEMENT, 132)
    if at < 0 or at + 8 > len(head):
        return False
    length = int.from_bytes(head[at + 6:at + 8], "little")
    value = head[at + 8:at + 8 + length].rstrip(b"\x00 ")
    return value == DICOMDIR_SOP_CLASS.encode()


def dataset_from_bytes(data: bytes) -> Any:
    """`pydicom.dcmread` of a whole file in memory, leniently (files without preamble or
    meta header too); raises what pydicom raises."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data), force=True)


def _text(ds: Any, tag: str) -> str | None:
    value = ds.get(tag)
    return None if value is None else str(value)
