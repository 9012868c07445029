"""DICOM radiographs through pydicom: modality LUT, VOI LUT / window, MONOCHROME1 inversion;
colour (RGB, YBR, palette, any bit depth) to grey for the colour check."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from pneumo_desktop.errors import ImageLoadError
from pneumo_desktop.imaging.checks import colour_fraction
from pneumo_desktop.imaging.dicom_header import (
    DISPLAY_TAGS,
    PATIENT_TAGS,
    dataset_from_bytes,
    header_of,
)
from pneumo_desktop.imaging.pixels import XRayImage, check_size, stretch_to_uint8, to_gray8

__all__ = ["DISPLAY_TAGS", "PATIENT_TAGS", "decode_dicom"]

_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian
_IMAGE_GROUPS = frozenset({0x0008, 0x0010, 0x0018, 0x0020, 0x0028})


def decode_dicom(data: bytes, *, name: str = "image.dcm",
                 include_patient: bool = False) -> XRayImage:
    """Decode one single-frame DICOM image to 8-bit grayscale (bone bright)."""
    try:
        ds = dataset_from_bytes(data)
    except Exception as exc:  # a damaged header fails anywhere in the parser (struct.error, …)
        raise ImageLoadError(f"{name}: damaged DICOM file ({exc})") from None
    header = header_of(ds, include_patient)
    if header.is_index:
        raise ImageLoadError(f"{name}: a DICOMDIR, the index of a DICOM CD or DVD, not an "
                             "image; score the folder it is in")
    if "PixelData" not in ds:
        raise ImageLoadError(_no_pixels_reason(ds, data, name))
    frames = _integer(ds, "NumberOfFrames", 1, name)
    if frames > 1:
        raise ImageLoadError(
            f"{name}: multi-frame DICOM ({frames} frames) is not supported; "
            "export the radiograph as a single image"
        )
    rows, cols = _integer(ds, "Rows", 0, name), _integer(ds, "Columns", 0, name)
    if rows * cols == 0:
        raise ImageLoadError(f"{name}: DICOM without image size (Rows/Columns missing)")
    check_size(name, cols, rows)
    stored = _stored_pixels(ds, name)

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR" and stored.ndim == 2:
        stored = _palette_to_rgb(ds, stored, name)
    if stored.ndim == 3:  # colour: pydicom gives RGB (YBR converted), any bit depth
        return XRayImage(to_gray8(stored[:, :, ::-1]), (rows, cols), "DICOM", header.tags,
                         colour_fraction(stored), header.age_years)
    pixels = _to_display(ds, stored)
    if photometric == "MONOCHROME1":
        pixels = 255 - pixels
    return XRayImage(pixels, (rows, cols), "DICOM", header.tags, age_years=header.age_years)


def _no_pixels_reason(ds: Any, data: bytes, name: str) -> str:
    """Why a parsed file has no pixel data element: cut short, not DICOM, or not an image."""
    tags = list(ds.keys())  # iterating a Dataset gives elements, not tags
    has_elements = any(tag.group in _IMAGE_GROUPS for tag in tags)
    # The pixel element is there but could not be read, or the file stops after its meta header.
    if _PIXEL_DATA_TAG in data or (len(ds) == 0 and data[128:132] == b"DICM"):
        return f"{name}: truncated or damaged DICOM file (the pixel data cannot be read)"
    if not has_elements and data[128:132] != b"DICM":
        return f"{name}: not a DICOM file (no DICOM elements found)"
    return f"{name}: DICOM without pixel data (a report or index, not an image)"


def _integer(ds: Any, tag: str, default: int, name: str) -> int:
    """An integer tag; a value that is not a number is a damaged header, not a decoder bug."""
    value = ds.get(tag)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ImageLoadError(f"{name}: damaged DICOM header ({tag} is '{value}', not a "
                             "number)") from None


def _stored_pixels(ds: Any, name: str) -> np.ndarray:
    """pydicom's pixel array (colour as RGB), with the transfer syntax guessed for a file
    without a meta header."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

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
            return ds.pixel_array
    except Exception as exc:  # codec missing, truncated pixel data, …
        raise ImageLoadError(
            f"{name}: cannot decode the DICOM pixels ({syntax.name}): {exc}"
        ) from None


def _palette_to_rgb(ds: Any, indices: np.ndarray, name: str) -> np.ndarray:
    """PALETTE COLOR: the palette's RGB colours for the stored indices."""
    from pydicom.pixels import apply_color_lut

    try:
        return apply_color_lut(indices, ds)
    except Exception as exc:  # missing or inconsistent lookup tables  # noqa: BLE001
        raise ImageLoadError(f"{name}: damaged DICOM palette ({exc})") from None


def _to_display(ds: Any, stored: np.ndarray) -> np.ndarray:
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


def _first(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value[0] if hasattr(value, "__len__") and not isinstance(value, str)
                     else value)
    except (TypeError, ValueError, IndexError):
        return None
