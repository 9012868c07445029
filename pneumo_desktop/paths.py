"""Where the app's own files are: the source tree, or the PyInstaller bundle when frozen."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def app_root() -> Path:
    """The folder holding `models/` and `resources/`."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    return Path(__file__).resolve().parents[1]


def user_data_dir() -> Path:
    """The user's own data (models, audit log): $PNEUMO_DATA_DIR, else the platform's data
    folder (XDG_DATA_HOME or ~/.local/share; LOCALAPPDATA on Windows) / pneumo-desktop."""
    base = os.environ.get("PNEUMO_DATA_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    if sys.platform == "win32":
        xdg = os.environ.get("LOCALAPPDATA", xdg)
    return Path(xdg) / "pneumo-desktop"
