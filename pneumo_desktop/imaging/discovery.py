"""Finding the images to score in files and folders."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pneumo_desktop.imaging.image_io import looks_like_image

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
    """Images below `folder`, sorted, hidden entries and index files skipped."""
    images: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name in SKIPPED_NAMES:
                continue
            path = Path(root) / name
            if looks_like_image(path):
                images.append(path)
    return images
