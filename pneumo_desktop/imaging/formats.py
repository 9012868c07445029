"""Which files are images: suffixes, and the format named by a file's first bytes."""

from __future__ import annotations

DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}) | DICOM_SUFFIXES


def sniff_format(head: bytes) -> str | None:
    """Name the image format from a file's first bytes, or None. `DICM` at byte 128 comes
    first: a DICOM's 128-byte preamble may hold a TIFF header (a "dual-personality" file,
    PS3.10 7.1), and the file is still a DICOM."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "DICOM"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head.startswith(b"BM"):
        return "BMP"
    # DICOM without preamble/meta: starts with a (0002,xxxx) or (0008,xxxx) element.
    if len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00":
        return "DICOM"
    return None
