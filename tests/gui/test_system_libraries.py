"""The app names missing xcb libraries (and how to install them) before Qt fails."""

from __future__ import annotations

import sys

import pytest

from pneumo_desktop.gui import system_libraries as libs


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
