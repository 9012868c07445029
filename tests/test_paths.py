"""Where the app finds its model and icons: the PyInstaller bundle, a wheel's package data, or
the source tree (a checkout or an editable install)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pneumo_desktop.paths as paths

REPO = Path(__file__).resolve().parents[1]


def _paths_module_at(package: Path):
    """pneumo_desktop/paths.py loaded from a copy in `package` (its own __file__ there)."""
    package.mkdir(parents=True)
    shutil.copy2(paths.__file__, package / "paths.py")
    spec = importlib.util.spec_from_file_location("copied_paths", package / "paths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_source_tree_holds_the_one_copy_of_the_model_and_icons():
    assert paths.app_root() == REPO
    assert (paths.app_root() / "models" / "default" / "model.keras").is_file()
    assert (paths.app_root() / "resources" / "icon.png").is_file()
    assert not (REPO / "pneumo_desktop" / paths.PACKAGE_DATA).exists()  # made by the wheel build


def test_a_wheel_install_finds_its_package_data(tmp_path):
    site = tmp_path / "site-packages"
    module = _paths_module_at(site / "pneumo_desktop")
    assert module.app_root() == site  # no package data: the folder above, as in a checkout
    (site / "pneumo_desktop" / paths.PACKAGE_DATA / "models" / "default").mkdir(parents=True)
    assert module.app_root() == site / "pneumo_desktop" / paths.PACKAGE_DATA


def test_the_pyinstaller_bundle_comes_first(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    module = _paths_module_at(site / "pneumo_desktop")
    (site / "pneumo_desktop" / paths.PACKAGE_DATA / "models").mkdir(parents=True)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "bundle"), raising=False)
    assert module.app_root() == tmp_path / "bundle"
