"""DICOM radiographs through pydicom: modality LUT, VOI LUT / window, MONOCHROME1 inversion."""

from __future__ import annotations

import io
import warnings

import numpy as np

from pneumo_desktop.errors import ImageLoadError
from pneumo_desktop.imaging.checks import age_in_years, colour_fraction
from pneumo_desktop.imaging.pixels import XRayImage, check_size, stretch_to_uint8, to_gray8

#: Tags shown to the clinician; identifying ones only on request.
DISPLAY_TAGS = ("Modality", "BodyPartExamined", "ViewPosition", "StudyDate", "Manufacturer",
                "InstitutionName", "PhotometricInterpretation", "BitsStored",
                "SeriesDescription", "ProtocolName")
PATIENT_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge")

_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian
_IMAGE_GROUPS = frozenset({0x0008, 0x0010, 0x0018, 0x0020, 0x0028})


def decode_dicom(data: bytes, *, name: str = "image.dcm",
                 include_patient: bool = False) -> XRayImage:
    """Decode one single-frame DICOM image to 8-bit grayscale (bone bright)."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # a damaged header fails anywhere in the parser (struct.error, …)
        raise ImageLoadError(f"{name}: damaged DICOM file ({exc})") from None

    if "PixelData" not in ds:
        tags = list(ds.keys())
        has_elements = any(tag.group in _IMAGE_GROUPS for tag in tags)
        # The pixel element is there but could not be read, or the file stops after its header.
        if _PIXEL_DATA_TAG in data or (not has_elements and data[128:132] == b"DICM"):
            raise ImageLoadError(f"{name}: truncated or damaged DICOM file (the pixel data "
                                 "cannot be read)")
        if not has_elements:
            raise ImageLoadError(f"{name}: not a DICOM file (no DICOM elements found)")
        raise ImageLoadError(f"{name}: DICOM without pixel data (a report or index, not an image)")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageLoadError(
            f"{name}: multi-frame DICOM ({frames} frames) is not supported; "
            "export the radiograph as a single image"
        )
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows * cols == 0:
        raise ImageLoadError(f"{name}: DICOM without image size (Rows/Columns missing)")
    check_size(name, cols, rows)

    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        # Lenient read of a file without meta header: take the encoding pydicom detected.
        ds.file_meta = meta or pydicom.dataset.FileMetaDataset()
        implicit = getattr(ds, "original_encoding", (True, True))[0]
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit \
            else ExplicitVRLittleEndian
    syntax = ds.file_meta.TransferSyntaxUID

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored = ds.pixel_array
    except Exception as exc:  # codec missing, truncated pixel data, …
        raise ImageLoadError(
            f"{name}: cannot decode the DICOM pixels ({syntax.name}): {exc}"
        ) from None

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    age = age_in_years(_text(ds, "PatientAge"), _text(ds, "PatientBirthDate"),
                       _text(ds, "StudyDate") or _text(ds, "AcquisitionDate")
                       or _text(ds, "SeriesDate"))
    if stored.ndim == 3:  # colour secondary capture: pydicom gives RGB
        return XRayImage(to_gray8(stored[:, :, ::-1].copy()), (rows, cols), "DICOM",
                         _metadata(ds, include_patient), colour_fraction(stored), age)
    pixels = _to_display(ds, stored)
    if photometric == "MONOCHROME1":
        pixels = 255 - pixels
    return XRayImage(pixels, (rows, cols), "DICOM", _metadata(ds, include_patient), age_years=age)


def _text(ds, tag: str) -> str | None:
    value = ds.get(tag)
    return None if value is None else str(value)


def _to_display(ds, stored: np.ndarray) -> np.ndarray:
    """Apply the modality LUT and the first VOI window (or the data range) -> uint8."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(stored, ds).astype(np.float32)
    if "VOILUTSequence" in ds or str(ds.get("VOILUTFunction", "LINEAR")).upper() != "LINEAR":
        return stretch_to_uint8(apply_voi_lut(values, ds, index=0))
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and width >= 1:
        # DICOM PS3.3 C.11.2.1.2.1 linear window
        low = center - 0.5 - (width - 1) / 2
        high = center - 0.5 + (width - 1) / 2
        return stretch_to_uint8(np.clip(values, low, high), low, high)
    return stretch_to_uint8(values)


def _first(value) -> float | None:
    if value is None:
        return None
    try:
        return float(value[0] if hasattr(value, "__len__") and not isinstance(value, str)
                     else value)
    except (TypeError, ValueError, IndexError):
        return None


def _metadata(ds, include_patient: bool) -> dict[str, str]:
    tags = DISPLAY_TAGS + (PATIENT_TAGS if include_patient else ())
    out = {tag: str(ds.get(tag)) for tag in tags if ds.get(tag) not in (None, "")}
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None:
        out["TransferSyntax"] = syntax.name
    return out
