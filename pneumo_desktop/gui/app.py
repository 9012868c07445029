"""Starting the desktop app: QApplication (high-DPI), names for QSettings, icon, garbage
collection in the GUI thread, main window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from pneumo_desktop import __version__
from pneumo_desktop.gui.main_thread_gc import pin_garbage_collection
from pneumo_desktop.gui.settings import APPLICATION, ORGANIZATION
from pneumo_desktop.paths import app_root


def resources_dir() -> Path:
    """`resources/` of the source tree, or of the PyInstaller bundle."""
    return app_root() / "resources"


def app_icon() -> QIcon:
    icon = QIcon()
    for name in ("icon.svg", "icon.png"):
        path = resources_dir() / name
        if path.is_file():
            icon.addFile(str(path))
    return icon


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), named so QSettings finds the user's settings."""
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else sys.argv)
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(__version__)
    QGuiApplication.setApplicationDisplayName(APPLICATION)
    QGuiApplication.setDesktopFileName("pneumo-desktop")
    icon = app_icon()
    if not icon.isNull():
        app.setWindowIcon(icon)
    pin_garbage_collection(app)
    return app


def run_app(argv: list[str] | None = None, paths: list[str] | None = None) -> int:
    """Show the main window at once (the model loads in the background); the exit code.

    `paths` (from "Open with" or the command line) are handled like a drop: one image opens
    in the viewer, several files or a folder are scored.

    On a Linux desktop where Qt would use its xcb plugin and a library it needs is missing,
    say which and how to install it, and return 1 before Qt starts (Qt itself would abort).
    """
    from pneumo_desktop.gui.system_libraries import install_hint, missing_xcb_packages

    missing = missing_xcb_packages()
    if missing:
        print(install_hint(missing), file=sys.stderr)
        return 1
    app = make_application(argv)
    from pneumo_desktop.compute.process import shared_process
    from pneumo_desktop.gui.window.main_window import MainWindow

    window = MainWindow()
    window.show()
    if paths:
        window.handle_drop([Path(p) for p in paths])
    try:
        return app.exec()
    finally:
        shared_process().close()
