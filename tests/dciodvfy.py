"""`dciodvfy` (Debian package `dicom3tools`), the DICOM validator: its errors about a result
object, less those its source already carries (a source's invalid value copied verbatim is
not ours to fix)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def dciodvfy_errors(path: Path) -> list[str]:
    """The 'Error' lines dciodvfy prints for `path` (skips the test without dciodvfy)."""
    binary = shutil.which("dciodvfy")
    if not binary:
        pytest.skip("dciodvfy is not installed (apt-get install dicom3tools)")
    run = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=120)
    return [line.strip() for line in (run.stdout + run.stderr).splitlines()
            if line.startswith("Error")]


def our_errors(result: Path, source: Path) -> list[str]:
    """Errors in `result` that `source` does not have."""
    theirs = set(dciodvfy_errors(source))
    return [line for line in dciodvfy_errors(result) if line not in theirs]
