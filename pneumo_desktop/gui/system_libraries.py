"""Before Qt starts on a Linux desktop: name the missing system libraries that its xcb platform
plugin needs, with the exact command to install them (Qt itself only says "could not load the
Qt platform plugin xcb")."""

from __future__ import annotations

import ctypes.util
import os
import sys

#: Library (as ctypes.util.find_library names it) -> Debian/Ubuntu package.
XCB_LIBRARIES = {"xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4",
                 "xcb-keysyms": "libxcb-keysyms1"}


def missing_xcb_packages(find=ctypes.util.find_library) -> list[str]:
    """Packages to install for Qt's xcb plugin; [] when nothing is missing or xcb is not used
    (another OS, no X display, or QT_QPA_PLATFORM set to something else)."""
    if not sys.platform.startswith("linux") or getattr(sys, "frozen", False):
        return []  # the installers bundle or declare these libraries
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return []
    if not os.environ.get("DISPLAY") or (os.environ.get("WAYLAND_DISPLAY") and not platform):
        return []
    return [package for library, package in XCB_LIBRARIES.items() if find(library) is None]


def install_hint(packages: list[str]) -> str:
    return ("Pneumo Desktop needs system libraries that Qt's X11 plugin uses: "
            + ", ".join(packages) + ".\nInstall them with:\n    sudo apt-get install "
            + " ".join(packages))
