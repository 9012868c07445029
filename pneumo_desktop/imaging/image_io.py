"""Reading chest X-rays from JPEG, PNG, TIFF, BMP and DICOM into 8-bit grayscale arrays.

Every failure raises :class:`ImageLoadError` with a message a clinician can act on.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np

from pneumo_desktop.errors import ImageLoadError
from pneumo_desktop.imaging.checks import colour_fraction
from pneumo_desktop.imaging.formats import DICOM_SUFFIXES, IMAGE_SUFFIXES, sniff_format
from pneumo_desktop.imaging.pixels import XRayImage, check_size, to_gray8

cv2.setNumThreads(1)  # decoding is parallelised across files, not inside one file


def looks_like_image(path: str | os.PathLike) -> bool:
    """True for a file with an image suffix, or whose content is a known image format."""
    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            return sniff_format(handle.read(132)) is not None
    except OSError:
        return False


def load_xray(
    path: str | os.PathLike, *, min_side: int | None = None, include_patient: bool = False
) -> XRayImage:
    """Read an X-ray as 8-bit grayscale.

    `min_side` allows a faster reduced-resolution JPEG decode that keeps both sides at least
    that long (for scoring); None decodes at full resolution (for viewing).
    `include_patient` adds identifying DICOM tags (name, id, birth date) to the metadata.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageLoadError(f"File not found: {path}") from None
    except IsADirectoryError:
        raise ImageLoadError(f"Is a folder, not an image: {path}") from None
    except OSError as exc:
        raise ImageLoadError(f"Cannot read file {path.name}: {exc.strerror}") from None
    return decode_xray(data, name=path.name, min_side=min_side, include_patient=include_patient)


def decode_xray(
    data: bytes, *, name: str = "image", min_side: int | None = None,
    include_patient: bool = False,
) -> XRayImage:
    """Decode the bytes of an image file; see :func:`load_xray`."""
    if not data:
        raise ImageLoadError(f"{name}: empty file (0 bytes)")
    kind = sniff_format(data[:132])
    if kind is None and Path(name).suffix.lower() in DICOM_SUFFIXES:
        kind = "DICOM"
    if kind is None:
        raise ImageLoadError(f"{name}: not an image (not JPEG, PNG, TIFF, BMP or DICOM)")
    if kind == "DICOM":
        from pneumo_desktop.imaging.dicom_io import decode_dicom

        return decode_dicom(data, name=name, include_patient=include_patient)
    return _decode_raster(data, kind, name, min_side)


def _raster_header(data: bytes, name: str) -> tuple[int, int, str]:
    """(width, height, PIL mode) from the file header, without decoding the pixels."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return (*img.size, img.mode)
    except Image.DecompressionBombError:
        raise ImageLoadError(f"{name}: image too large to open safely") from None
    except Exception:
        raise ImageLoadError(f"{name}: damaged image header") from None


def _decode_raster(data: bytes, kind: str, name: str, min_side: int | None) -> XRayImage:
    if kind == "JPEG" and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        raise ImageLoadError(f"{name}: truncated JPEG (the file ends before the image does)")
    if kind == "PNG" and b"IEND" not in data[-64:]:
        raise ImageLoadError(f"{name}: truncated PNG (the file ends before the image does)")
    width, height, mode = _raster_header(data, name)
    check_size(name, width, height)
    buffer = np.frombuffer(data, dtype=np.uint8)
    if kind == "JPEG":
        colour = mode not in ("L", "1", "I", "I;16")  # decode colour JPEGs in colour to see it
        flags = ((8, cv2.IMREAD_REDUCED_COLOR_8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
                 (4, cv2.IMREAD_REDUCED_COLOR_4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
                 (2, cv2.IMREAD_REDUCED_COLOR_2, cv2.IMREAD_REDUCED_GRAYSCALE_2))
        flag = cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE
        for factor, reduced_colour, reduced_gray in flags if min_side else ():
            if min(width, height) // factor >= min_side:
                flag = reduced_colour if colour else reduced_gray
                break
        pixels = cv2.imdecode(buffer, flag)
    else:
        pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0:
        raise ImageLoadError(f"{name}: damaged {kind} file (the pixels cannot be decoded)")
    return XRayImage(to_gray8(pixels), (height, width), kind,
                     colourfulness=colour_fraction(pixels))
