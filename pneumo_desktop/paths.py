"""Where the app's own files are: the PyInstaller bundle when frozen, the package data of a
wheel install, or the source tree (a checkout, an editable install)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The package-data folder of a wheel: `pneumo_desktop/_data/{models/default,resources}`,
#: copied there from the top-level `models/default/` and `resources/` by setup.py's build step.
PACKAGE_DATA = "_data"


def app_root() -> Path:
    """The folder holding `models/` and `resources/`: the PyInstaller bundle's folder when
    frozen; the package data when installed from a wheel (`pip install .`, pipx); else the
    source tree, whose top-level `models/` is the one copy kept in git."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    package = Path(__file__).resolve().parent
    if (package / PACKAGE_DATA / "models").is_dir():
        return package / PACKAGE_DATA
    return package.parent


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
