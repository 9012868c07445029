"""Finding the images to score in files and folders."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pneumo_desktop.imaging.dicom_header import HEAD_BYTES, is_dicomdir_head
from pneumo_desktop.imaging.formats import IMAGE_SUFFIXES, sniff_format

SKIPPED_NAMES = frozenset({"DICOMDIR", "Thumbs.db", "desktop.ini"})


def collect_inputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named directly are kept as given (bad ones get an error row later); folders are
    scanned recursively for images, skipping hidden files and folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(scan_folder(path))
        else:
            found.append(path)
    return found


def scan_folder(folder: Path) -> list[Path]:
    """Images below `folder`, sorted, hidden entries and index files skipped: a DICOM CD or
    DVD (a DICOMDIR and extension-less files in nested folders) is scored as a folder."""
    images: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name in SKIPPED_NAMES:
                continue
            path = Path(root) / name
            if _is_image(path):
                images.append(path)
    return images


def _is_image(path: Path) -> bool:
    """An image suffix or image content, and not a DICOMDIR (whatever its name)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:  # unreadable: a row says why when it has an image suffix
        return path.suffix.lower() in IMAGE_SUFFIXES
    if is_dicomdir_head(head):
        return False
    return path.suffix.lower() in IMAGE_SUFFIXES or sniff_format(head) is not None
