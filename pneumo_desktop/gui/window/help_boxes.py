"""Help → Keyboard shortcuts and Help → About: non-modal message boxes over the window."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from pneumo_desktop import __version__

if TYPE_CHECKING:
    from pneumo_desktop.gui.window.main_window import MainWindow

#: Mouse gestures of the viewer, listed with the actions' shortcuts.
MOUSE = [("Zoom around the cursor", "Mouse wheel"), ("Pan", "Drag"),
         ("Window / level", "Right-drag (left-right / up-down)")]


def shortcut_rows(window: MainWindow) -> list[tuple[str, str]]:
    """(what, keys) for every action of the window with a shortcut, then the mouse gestures."""
    rows = []
    for action in window.findChildren(QAction):
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText)
                for k in action.shortcuts() if not k.isEmpty()]
        if keys and action.text():
            rows.append((action.text().replace("&", "").replace("…", ""), ", ".join(keys)))
    return rows + MOUSE


def show_shortcuts(window: MainWindow) -> QMessageBox:
    table = "".join(f"<tr><td>{html.escape(a)}</td><td><b>{html.escape(k)}</b></td></tr>"
                    for a, k in sorted(shortcut_rows(window)))
    box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts",
                      f"<table cellspacing=4>{table}</table>", parent=window)
    box.open()
    return box


def show_about(window: MainWindow) -> QMessageBox:
    models = window.models
    model = (f"Model: {html.escape(models.name)} ({models.device})" if models.card
             else "No model loaded")
    box = QMessageBox(QMessageBox.Icon.Information, "About Pneumo Desktop",
                      f"<h3>Pneumo Desktop {__version__}</h3>"
                      "<p>Offline screening of pediatric chest X-rays for pneumonia, with "
                      "heat maps of what drove each score.</p>"
                      "<p><b>Decision support only — not a diagnosis.</b> Every result must "
                      f"be reviewed by a clinician.</p><p>{model}</p>", parent=window)
    box.open()
    return box
