"""The window's actions (each with its object name, shortcuts and tip), its menus and its
toolbar. Actions are attributes of the window (`window.open_action`…) and children of it, so
the keyboard-shortcuts list finds them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar

if TYPE_CHECKING:
    from pneumo_desktop.gui.window.main_window import MainWindow

OPACITY_STEP = 0.1


def make_action(window: MainWindow, name: str, text: str, slot: Callable,
                shortcuts: list | None = None, tip: str = "",
                checkable: bool = False) -> QAction:
    """A window action: tool tip with its shortcuts, status tip, `slot` on trigger (or toggle)."""
    action = QAction(text, window)
    action.setObjectName(name)
    if shortcuts:
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
    keys = ", ".join(QKeySequence(s).toString(QKeySequence.SequenceFormat.NativeText)
                     for s in shortcuts or [])
    plain = text.replace("&", "").replace("…", "")
    action.setToolTip(f"{tip or plain}{f' ({keys})' if keys else ''}")
    action.setStatusTip(tip or plain)
    action.setCheckable(checkable)
    if checkable:
        action.toggled.connect(slot)
    else:
        action.triggered.connect(slot)
    window.addAction(action)
    return action


def build_actions(window: MainWindow) -> None:
    """Create the window's actions, then its menus and toolbar."""
    def a(*args, **kwargs) -> QAction:
        return make_action(window, *args, **kwargs)

    std = QKeySequence.StandardKey
    window.open_action = a("openAction", "&Open X-ray…", window.choose_image, [std.Open],
                           "Open one chest X-ray (JPEG, PNG, TIFF, BMP or DICOM)")
    window.score_action = a("scoreFolderAction", "&Score folder…", window.choose_folder,
                            ["Ctrl+Shift+O"], "Score every image in a folder")
    window.score_files_action = a("scoreFilesAction", "Score &files…", window.choose_files,
                                  ["Ctrl+Shift+F"], "Score several chosen images")
    window.csv_action = a("exportCsvAction", "Export &CSV…", window.export_csv, ["Ctrl+E"],
                          "Save the batch results as CSV (same columns as the command line)")
    window.pdf_action = a("exportPdfAction", "&PDF report…", window.export_pdf, ["Ctrl+P"],
                          "Save a PDF report: summary plus one page per flagged study")
    window.quit_action = a("quitAction", "&Quit", window.close, [std.Quit])
    window.fit_action = a("fitAction", "&Fit to window", window.viewer.fit_to_window, ["F"],
                          "Show the whole image")
    window.actual_action = a("actualSizeAction", "Actual size (&1:1)", window.viewer.actual_size,
                             ["1"], "One image pixel per screen pixel")
    window.zoom_in_action = a("zoomInAction", "Zoom &in", window.viewer.zoom_in,
                              ["+", "=", std.ZoomIn])
    window.zoom_out_action = a("zoomOutAction", "Zoom &out", window.viewer.zoom_out,
                               ["-", std.ZoomOut])
    window.invert_action = a("invertAction", "&Invert grey scale", window.viewer.set_inverted,
                             ["I"], "Show bones dark and air bright", checkable=True)
    window.reset_wl_action = a("resetWindowLevelAction", "&Reset window/level",
                               window.viewer.reset_window_level, ["R"],
                               "Undo right-drag contrast (window) and brightness (level)")
    window.heatmap_action = a("heatmapAction", "&Heat map", window.set_heatmap_visible, ["H"],
                              "Show or hide the heat map over the X-ray", checkable=True)
    window.more_opaque_action = a("moreOpaqueAction", "Heat map more opaque",
                                  lambda: window.study.step_opacity(OPACITY_STEP), ["]"])
    window.less_opaque_action = a("lessOpaqueAction", "Heat map more transparent",
                                  lambda: window.study.step_opacity(-OPACITY_STEP), ["["])
    window.patient_action = a("patientAction", "Show &patient identity (DICOM)",
                              window.study.show_patient_toggled, ["Ctrl+Shift+I"],
                              "Show the patient's name, ID and birth date from DICOM files",
                              checkable=True)
    window.next_action = a("nextStudyAction", "&Next study", lambda: window.study.step_study(1),
                           ["PgDown", "Ctrl+Down"], "Open the next row of the batch table")
    window.previous_action = a("previousStudyAction", "P&revious study",
                               lambda: window.study.step_study(-1), ["PgUp", "Ctrl+Up"],
                               "Open the previous row of the batch table")
    window.score_anyway_action = a(
        "scoreAnywayAction", "Score &anyway (outside intended use)", window.score_anyway,
        tip="Show the score and heat map of a study the input check refused, marked as "
            "outside what the model was made for")
    window.cancel_action = a("cancelBatchAction", "&Cancel batch", window.cancel_batch,
                             ["Esc"], "Stop scoring; rows scored so far are kept")
    window.models_action = a("modelsAction", "&Models…", window.open_model_manager,
                             ["Ctrl+M"], "See model cards and switch the active model")
    window.train_action = a("trainWizardAction", "&Train on clinic images…",
                            window.open_training_wizard, ["Ctrl+T"],
                            "Fine-tune the model on your own labelled images, on this computer")
    window.preferences_action = a("preferencesAction", "&Preferences…",
                                  window.open_preferences, [std.Preferences, "Ctrl+,"],
                                  "Decision threshold override")
    window.shortcuts_action = a("shortcutsAction", "&Keyboard shortcuts", window.show_shortcuts,
                                [std.HelpContents, "F1"])
    window.about_action = a("aboutAction", "&About Pneumo Desktop", window.show_about)
    window.batch_toggle_action = window.batch_dock.toggleViewAction()
    window.batch_toggle_action.setText("&Batch results")
    window.batch_toggle_action.setShortcut(QKeySequence("Ctrl+B"))
    window.batch_toggle_action.setToolTip("Show or hide the batch results (Ctrl+B)")
    window.worklist_toggle_action = a(
        "worklistAction", "&Worklist (received studies)", window.show_worklist, ["Ctrl+L"],
        "Studies received from the X-ray machine, PACS or watched folder")
    window.receiving_action = a("receivingAction", "&Receiving studies…", window.edit_receiving,
                                tip="DICOM receiver (AE title, port) and watched folder")
    window.monitoring_action = a(
        "monitoringAction", "&Monitoring", window.show_monitoring, ["Ctrl+Shift+M"],
        "How the model is doing here: agreement with your reads, drift, alerts")

    window.heatmap_action.setChecked(window.settings.overlay_visible)
    window.result_panel.heatmap_toggle.setChecked(window.settings.overlay_visible)
    window.viewer.set_heatmap_visible(window.settings.overlay_visible)
    window.result_panel.heatmap_toggle.toggled.connect(window.heatmap_action.setChecked)
    build_menus(window)
    build_toolbar(window)
    window.update_actions()


def _fill(menu: QMenu | QToolBar, items: tuple) -> None:
    """Add `items` in order (None: a separator)."""
    for item in items:
        menu.addSeparator() if item is None else menu.addAction(item)


def build_menus(window: MainWindow) -> None:
    """File, View, Study, Model and Help."""
    w = window
    menus = w.menuBar()
    _fill(menus.addMenu("&File"), (
        w.open_action, w.score_action, w.score_files_action, None, w.csv_action, w.pdf_action,
        None, w.receiving_action, None, w.quit_action))
    _fill(menus.addMenu("&View"), (
        w.fit_action, w.actual_action, w.zoom_in_action, w.zoom_out_action, None,
        w.invert_action, w.reset_wl_action, None, w.heatmap_action, w.more_opaque_action,
        w.less_opaque_action, None, w.patient_action, w.batch_toggle_action,
        w.worklist_toggle_action, w.monitoring_action))
    _fill(menus.addMenu("&Study"), (
        w.next_action, w.previous_action, None, w.score_anyway_action, None, w.cancel_action))
    _fill(menus.addMenu("&Model"), (w.models_action, w.train_action, w.preferences_action))
    _fill(menus.addMenu("&Help"), (w.shortcuts_action, w.about_action))


def build_toolbar(window: MainWindow) -> None:
    """The main toolbar: text buttons for the commonest actions."""
    w = window
    toolbar = QToolBar("Main toolbar")
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    _fill(toolbar, (w.open_action, w.score_action, None, w.fit_action, w.actual_action,
                    w.zoom_in_action, w.zoom_out_action, None, w.invert_action,
                    w.reset_wl_action, w.heatmap_action, None, w.models_action))
    w.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
