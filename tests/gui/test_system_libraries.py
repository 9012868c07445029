"""The app names missing xcb libraries (and how to install them) and stops before Qt fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pneumo_desktop.gui import system_libraries as libs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def x11(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)


def test_missing_libraries_are_named_with_the_install_command(x11):
    missing = libs.missing_xcb_packages(lambda name: None if name == "xcb-cursor" else name)
    assert missing == ["libxcb-cursor0"]
    assert "sudo apt-get install libxcb-cursor0" in libs.install_hint(missing)


def test_nothing_missing_or_no_x11(x11, monkeypatch):
    assert libs.missing_xcb_packages(lambda name: name) == []
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert libs.missing_xcb_packages(lambda name: None) == []
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.delenv("DISPLAY")
    assert libs.missing_xcb_packages(lambda name: None) == []


@pytest.mark.parametrize("platform, stops", [("", True), ("xcb", True), ("offscreen", False),
                                             ("wayland", False), ("minimal", False)])
def test_only_the_xcb_platform_needs_the_libraries(x11, monkeypatch, platform, stops):
    if platform:
        monkeypatch.setenv("QT_QPA_PLATFORM", platform)
    missing = libs.missing_xcb_packages(lambda name: None)
    assert missing == (list(libs.XCB_LIBRARIES.values()) if stops else [])


def test_the_app_exits_with_1_and_the_hint_before_qt_starts(tmp_path):
    """`pneumo-desktop gui` on an X11 desktop lacking a library of Qt's xcb plugin (here one
    that exists nowhere): the hint on stderr and exit code 1, where Qt would abort (134). The
    display does not exist either, so had Qt started it could not have succeeded."""
    script = (
        "import sys\n"
        "from pneumo_desktop.gui import system_libraries as libs\n"
        "libs.XCB_LIBRARIES['pneumo-test-absent'] = 'libpneumo-test-absent0'\n"
        "from pneumo_desktop.cli.main import main\n"
        "sys.exit(main(['gui']))\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=":97", PYTHONPATH=str(ROOT), PNEUMO_DATA_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "sudo apt-get install" in done.stderr and "libpneumo-test-absent0" in done.stderr
    assert "Qt platform plugin" not in done.stderr  # Qt never tried to load xcb
