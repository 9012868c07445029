"""The main window: viewer + result panel, batch results dock, menus, shortcuts, status bar."""

from __future__ import annotations

import dataclasses
import html
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QToolBar,
    QWidget,
)

from pneumo_desktop import __version__
from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.batch_model import BatchTableModel
from pneumo_desktop.gui.batch_panel import BatchPanel
from pneumo_desktop.gui.report import ReportData
from pneumo_desktop.gui.result_panel import (
    OUTSIDE_STYLE,
    REFUSED_STYLE,
    WARNING_STYLE,
    ResultPanel,
    outside_use_text,
    percent,
    refused_text,
)
from pneumo_desktop.gui.settings import AppSettings
from pneumo_desktop.gui.viewer import XRayViewer
from pneumo_desktop.gui.workers import (
    AuditLogOpener,
    BatchScorer,
    ImageResult,
    ImageScorer,
    ModelLoader,
    ReportWriter,
    ThreadPool,
)
from pneumo_desktop.imaging.image_io import IMAGE_SUFFIXES
from pneumo_desktop.model.bundle import default_bundle_path, default_model_dirs

if TYPE_CHECKING:
    from pneumo_desktop.gui.intake_dock import IntakeDock
    from pneumo_desktop.intake.audit_log import AuditLog
    from pneumo_desktop.model.bundle import ModelCard
    from pneumo_desktop.model.inference import Predictor, ScoredFile

IMAGE_FILTER = ("Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;"
                "All files (*)")
OPACITY_STEP = 0.1


class MainWindow(QMainWindow):
    """Pneumo Desktop's window.

    Public surface (used by the tests and scripts):

    - `open_image(path)`, `score_folder(path)` / `score_paths(paths)`, `cancel_batch()`,
      `export_csv(path)`, `export_pdf(path)`, `switch_model(path)`,
      `set_threshold_override(value | None)`, `open_model_manager()`, `score_anyway()`
    - signals `imageScored(path, probability)`, `imageRefused(path, reason)` (the input check
      refused the study: no score shown), `batchFinished(scored, failed)`,
      `modelReady(name)`, `modelFailed(message)`, `imageOpened(path)`,
      `imageFailed(path, message)`, `reportWritten(path)`, `reportFailed(message)`
    - `is_model_ready`, `model_name`, `threshold`, `is_batch_running`, `current_result`

    `model_path` loads that bundle (else the one chosen earlier, else the shipped default);
    `settings` (a QSettings or AppSettings) isolates the persisted settings; `model_dirs`
    are the folders the model manager lists.
    """

    imageScored = Signal(str, float)
    imageRefused = Signal(str, str)
    batchFinished = Signal(int, int)
    modelReady = Signal(str)
    modelFailed = Signal(str)
    imageOpened = Signal(str)
    imageFailed = Signal(str, str)
    reportWritten = Signal(str)
    reportFailed = Signal(str)

    def __init__(self, model_path: str | Path | None = None, *,
                 settings: QSettings | AppSettings | None = None,
                 model_dirs: list[Path] | None = None, batch_size: int = 16,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.settings = settings if isinstance(settings, AppSettings) else AppSettings(settings)
        self.model_dirs = [Path(d) for d in (model_dirs or default_model_dirs())]
        self.user_models_dir = self.model_dirs[-1]  # where trained models are saved
        self._wizard: QWidget | None = None
        self.batch_size = batch_size
        self._pool = ThreadPool(self)
        self._predictor: Predictor | None = None
        self._device = ""
        self._model_error = ""
        self._load_request = 0
        self._loading_path: Path | None = None
        self._image_request = 0
        self._current: ImageResult | None = None
        self._current_path: Path | None = None
        self._batch: BatchScorer | None = None
        self._batch_predictor: Predictor | None = None
        self._pending_batch: list[Path] | None = None
        self._report: ReportWriter | None = None
        self._closing = False
        self._intake_error = ""

        self._build_widgets()
        self._build_actions()
        self._build_status_bar()
        self.setAcceptDrops(True)
        self.setWindowTitle("Pneumo Desktop")
        self._restore_geometry()

        explicit = model_path is not None
        chosen = Path(model_path) if explicit else Path(self.settings.active_model or
                                                        default_bundle_path())
        self.load_model(chosen, fallback=not explicit)
        if self.settings.receiving_enabled:  # it was on when the app last closed
            self._when_audit_ready(lambda: self.ensure_intake() and self.intake.start())

    # ==== construction ====================================================================
    def _build_widgets(self) -> None:
        self.viewer = XRayViewer()
        self.result_panel = ResultPanel()
        self.result_panel.set_opacity(self.settings.overlay_opacity)
        self.viewer.set_heatmap_opacity(self.settings.overlay_opacity)
        self.result_panel.opacityChanged.connect(self._opacity_changed)
        self.result_panel.scoreAnywayRequested.connect(self.score_anyway)
        side = QScrollArea()
        side.setObjectName("resultScroll")
        side.setWidget(self.result_panel)
        side.setWidgetResizable(True)
        side.setMinimumWidth(300)
        side.setMaximumWidth(440)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("mainSplitter")
        splitter.addWidget(self.viewer)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self.batch_model = BatchTableModel(self)
        self.batch_panel = BatchPanel(self.batch_model)
        self.batch_panel.openRequested.connect(self.open_image)
        self.batch_panel.scoreFolderRequested.connect(self.choose_folder)
        self.batch_panel.exportCsvRequested.connect(self.export_csv)
        self.batch_panel.exportPdfRequested.connect(self.export_pdf)
        self.batch_panel.cancelRequested.connect(self.cancel_batch)
        self.batch_dock = QDockWidget("Batch results", self)
        self.batch_dock.setObjectName("batchDock")
        self.batch_dock.setWidget(self.batch_panel)
        self.batch_dock.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea
                                        | Qt.DockWidgetArea.RightDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.batch_dock)
        self.batch_dock.hide()

        self.intake: IntakeDock | None = None  # built on first use (see ensure_intake)
        self.audit: AuditLog | None = None  # opened in a worker (see _open_audit_log)
        self._audit_opening = True
        self.audit_verification = ""  # what the check of the audit log's hash chain found
        self._audit_queue: list[tuple[str, str, dict]] = []  # overrides made while it opens
        self._after_audit: list[Callable[[], object]] = []  # waiting for the log: worklist...
        self._open_audit_log()

        self.viewer.zoomChanged.connect(self._zoom_changed)
        self.viewer.windowLevelChanged.connect(self._window_level_changed)

    def _open_audit_log(self) -> None:
        """Open the audit log in a worker: its integrity check takes longer as it grows, and
        the window must not wait for it. Overrides made meanwhile are queued; when it cannot
        be opened the status bar says why and the app still scores what is opened or dropped."""
        opener = AuditLogOpener()
        opener.opened.connect(self._audit_opened)
        opener.failed.connect(self._audit_failed)
        opener.verified.connect(self._audit_verified)
        self._pool.start(opener, "audit-log-opener")

    @Slot(object)
    def _audit_opened(self, log: AuditLog) -> None:
        self._audit_opening = False
        if self._closing:
            log.close()
            return
        self.audit = log
        queued, self._audit_queue = self._audit_queue, []
        for kind, detail, fields in queued:
            self._audit(kind, detail, **fields)
        self._run_after_audit()

    @Slot(bool, str)
    def _audit_verified(self, intact: bool, text: str) -> None:
        """The audit log's hash chain checked (in the opener's worker): a lasting label in the
        status bar says so (red when broken), beside the passing messages."""
        self.audit_verification = text
        label = QLabel(text.split(":")[0] + (" ✓" if intact else ""))
        label.setObjectName("auditStatus")
        label.setToolTip(text)
        if not intact:
            label.setText(text)
            label.setStyleSheet("color: #c62828; font-weight: bold")
            label.setWordWrap(True)
        self.statusBar().addPermanentWidget(label, 0 if intact else 1)

    @Slot(str)
    def _audit_failed(self, message: str) -> None:
        self._audit_opening = False
        self._intake_error = f"Worklist and audit log unavailable: {message}"
        if self._audit_queue:
            self._intake_error += (f" ({len(self._audit_queue)} override(s) made meanwhile "
                                   "were not recorded)")
        self._audit_queue = []
        self._after_audit = []
        self.statusBar().showMessage(self._intake_error, 15000)

    def _when_audit_ready(self, action: Callable[[], object]) -> None:
        """Run `action` now if the audit log is open, once it is while it opens; say why not
        when it cannot be opened."""
        if self._audit_opening:
            self._after_audit.append(action)
        elif self.audit is not None:
            action()
        else:
            self.statusBar().showMessage(self._intake_error, 8000)

    def _run_after_audit(self) -> None:
        actions, self._after_audit = self._after_audit, []
        for action in actions:
            action()

    @property
    def audit_ready(self) -> bool:
        """The audit log is open (False while it opens and when it cannot be opened)."""
        return self.audit is not None

    @property
    def audit_error(self) -> str:
        """Why the worklist and audit log are unavailable ('' while the log opens or once open)."""
        return self._intake_error

    def ensure_intake(self) -> IntakeDock | None:
        """The worklist dock and its receiver, built on first use (the DICOM networking stack
        is imported only then, not at every start)."""
        if self.intake is None and self.audit is not None:
            from pneumo_desktop.gui.intake_dock import IntakeDock

            dock = IntakeDock(self.settings, self.audit, self)
            dock.openRequested.connect(self.open_image)
            dock.announced.connect(lambda text: self.statusBar().showMessage(text, 15000))
            dock.runningChanged.connect(lambda running: dock.show() if running else None)
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
            self.tabifyDockWidget(self.batch_dock, dock)
            dock.set_predictor(self._predictor)
            self.intake = dock
        return self.intake

    def show_worklist(self) -> None:
        """Show the worklist (Ctrl+L)."""
        def show() -> None:
            dock = self.ensure_intake()
            dock.show()
            dock.raise_()
        self._when_audit_ready(show)

    def edit_receiving(self) -> None:
        self._when_audit_ready(lambda: self.ensure_intake().edit_settings())

    def _audit(self, kind: str, detail: str, **fields) -> None:
        """Record a user override in the audit log (queued while it opens)."""
        if self._audit_opening:
            self._audit_queue.append((kind, detail, fields))
        elif self.audit is not None:
            try:
                self.audit.log_override(kind, detail, **fields)
            except (OSError, PneumoError, sqlite3.Error) as exc:
                self.statusBar().showMessage(f"The audit log could not be written: {exc}", 8000)

    def _action(self, name: str, text: str, slot, shortcuts: list | None = None,
                tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
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
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a = self._action
        std = QKeySequence.StandardKey
        self.open_action = a("openAction", "&Open X-ray…", self.choose_image, [std.Open],
                             "Open one chest X-ray (JPEG, PNG, TIFF, BMP or DICOM)")
        self.score_action = a("scoreFolderAction", "&Score folder…", self.choose_folder,
                              ["Ctrl+Shift+O"], "Score every image in a folder")
        self.score_files_action = a("scoreFilesAction", "Score &files…", self.choose_files,
                                    ["Ctrl+Shift+F"], "Score several chosen images")
        self.csv_action = a("exportCsvAction", "Export &CSV…", self.export_csv, ["Ctrl+E"],
                            "Save the batch results as CSV (same columns as the command line)")
        self.pdf_action = a("exportPdfAction", "&PDF report…", self.export_pdf, ["Ctrl+P"],
                            "Save a PDF report: summary plus one page per flagged study")
        self.quit_action = a("quitAction", "&Quit", self.close, [std.Quit])
        self.fit_action = a("fitAction", "&Fit to window", self.viewer.fit_to_window, ["F"],
                            "Show the whole image")
        self.actual_action = a("actualSizeAction", "Actual size (&1:1)", self.viewer.actual_size,
                               ["1"], "One image pixel per screen pixel")
        self.zoom_in_action = a("zoomInAction", "Zoom &in", self.viewer.zoom_in,
                                ["+", "=", std.ZoomIn])
        self.zoom_out_action = a("zoomOutAction", "Zoom &out", self.viewer.zoom_out,
                                 ["-", std.ZoomOut])
        self.invert_action = a("invertAction", "&Invert grey scale", self.viewer.set_inverted,
                               ["I"], "Show bones dark and air bright", checkable=True)
        self.reset_wl_action = a("resetWindowLevelAction", "&Reset window/level",
                                 self.viewer.reset_window_level, ["R"],
                                 "Undo right-drag contrast (window) and brightness (level)")
        self.heatmap_action = a("heatmapAction", "&Heat map", self.set_heatmap_visible, ["H"],
                                "Show or hide the heat map over the X-ray", checkable=True)
        self.more_opaque_action = a("moreOpaqueAction", "Heat map more opaque",
                                    lambda: self._step_opacity(OPACITY_STEP), ["]"])
        self.less_opaque_action = a("lessOpaqueAction", "Heat map more transparent",
                                    lambda: self._step_opacity(-OPACITY_STEP), ["["])
        self.patient_action = a("patientAction", "Show &patient identity (DICOM)",
                                self._show_patient_toggled, ["Ctrl+Shift+I"],
                                "Show the patient's name, ID and birth date from DICOM files",
                                checkable=True)
        self.next_action = a("nextStudyAction", "&Next study", lambda: self._step_study(1),
                             ["PgDown", "Ctrl+Down"], "Open the next row of the batch table")
        self.previous_action = a("previousStudyAction", "P&revious study",
                                 lambda: self._step_study(-1), ["PgUp", "Ctrl+Up"],
                                 "Open the previous row of the batch table")
        self.score_anyway_action = a(
            "scoreAnywayAction", "Score &anyway (outside intended use)", self.score_anyway,
            tip="Show the score and heat map of a study the input check refused, marked as "
                "outside what the model was made for")
        self.cancel_action = a("cancelBatchAction", "&Cancel batch", self.cancel_batch,
                               ["Esc"], "Stop scoring; rows scored so far are kept")
        self.models_action = a("modelsAction", "&Models…", self.open_model_manager,
                               ["Ctrl+M"], "See model cards and switch the active model")
        self.train_action = a("trainWizardAction", "&Train on clinic images…",
                              self.open_training_wizard, ["Ctrl+T"],
                              "Fine-tune the model on your own labelled images, on this computer")
        self.preferences_action = a("preferencesAction", "&Preferences…",
                                    self.open_preferences, [std.Preferences, "Ctrl+,"],
                                    "Decision threshold override")
        self.shortcuts_action = a("shortcutsAction", "&Keyboard shortcuts", self.show_shortcuts,
                                  [std.HelpContents, "F1"])
        self.about_action = a("aboutAction", "&About Pneumo Desktop", self.show_about)
        self.batch_toggle_action = self.batch_dock.toggleViewAction()
        self.batch_toggle_action.setText("&Batch results")
        self.batch_toggle_action.setShortcut(QKeySequence("Ctrl+B"))
        self.batch_toggle_action.setToolTip("Show or hide the batch results (Ctrl+B)")
        self.worklist_toggle_action = a(
            "worklistAction", "&Worklist (received studies)", self.show_worklist, ["Ctrl+L"],
            "Studies received from the X-ray machine, PACS or watched folder")
        self.receiving_action = a("receivingAction", "&Receiving studies…", self.edit_receiving,
                                  tip="DICOM receiver (AE title, port) and watched folder")

        self.heatmap_action.setChecked(self.settings.overlay_visible)
        self.result_panel.heatmap_toggle.setChecked(self.settings.overlay_visible)
        self.viewer.set_heatmap_visible(self.settings.overlay_visible)
        self.result_panel.heatmap_toggle.toggled.connect(self.heatmap_action.setChecked)

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        for item in (self.open_action, self.score_action, self.score_files_action, None,
                     self.csv_action, self.pdf_action, None, self.receiving_action, None,
                     self.quit_action):
            if item is None:
                file_menu.addSeparator()
            elif item:
                file_menu.addAction(item)
        view_menu = menus.addMenu("&View")
        for item in (self.fit_action, self.actual_action, self.zoom_in_action,
                     self.zoom_out_action, None, self.invert_action, self.reset_wl_action, None,
                     self.heatmap_action, self.more_opaque_action, self.less_opaque_action, None,
                     self.patient_action, self.batch_toggle_action,
                     self.worklist_toggle_action):
            if item is None:
                view_menu.addSeparator()
            elif item:
                view_menu.addAction(item)
        study_menu = menus.addMenu("&Study")
        for item in (self.next_action, self.previous_action, None, self.score_anyway_action,
                     None, self.cancel_action):
            study_menu.addSeparator() if item is None else study_menu.addAction(item)
        model_menu = menus.addMenu("&Model")
        model_menu.addAction(self.models_action)
        model_menu.addAction(self.train_action)
        model_menu.addAction(self.preferences_action)
        help_menu = menus.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

        toolbar = QToolBar("Main toolbar")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for item in (self.open_action, self.score_action, None, self.fit_action,
                     self.actual_action, self.zoom_in_action, self.zoom_out_action, None,
                     self.invert_action, self.reset_wl_action, self.heatmap_action, None,
                     self.models_action):
            toolbar.addSeparator() if item is None else toolbar.addAction(item)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self._update_actions()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.model_status = QLabel("Model: starting…")
        self.model_status.setObjectName("modelStatus")
        self.model_status.setToolTip("Active model, the device it runs on, and whether it is "
                                     "ready (Ctrl+M to change)")
        self.threshold_status = QLabel("")
        self.threshold_status.setObjectName("thresholdStatus")
        self.view_status = QLabel("")
        self.view_status.setObjectName("viewStatus")
        self.view_status.setToolTip("Zoom, window width and level (right-drag to change)")
        bar.addPermanentWidget(self.view_status)
        bar.addPermanentWidget(self.threshold_status)
        bar.addPermanentWidget(self.model_status)

    def _restore_geometry(self) -> None:
        geometry, state = self.settings.geometry, self.settings.window_state
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            screen = QGuiApplication.primaryScreen()
            area = screen.availableGeometry() if screen else None
            width = min(1400, int(area.width() * 0.95)) if area else 1280
            height = min(900, int(area.height() * 0.92)) if area else 720
            self.resize(width, height)
        if state is not None:
            self.restoreState(state)

    # ==== model ===========================================================================
    @property
    def is_model_ready(self) -> bool:
        return self._predictor is not None

    @property
    def is_model_loading(self) -> bool:
        return self._loading_path is not None

    @property
    def model_name(self) -> str:
        return self._predictor.bundle.name if self._predictor else ""

    @property
    def model_path(self) -> Path | None:
        return self._predictor.bundle.path if self._predictor else None

    @property
    def predictor(self) -> Predictor | None:
        return self._predictor

    @property
    def card(self) -> ModelCard | None:
        return self._predictor.bundle.card if self._predictor else None

    @property
    def threshold(self) -> float:
        """The threshold in force: the override when set, else the model's."""
        override = self.settings.threshold_override
        if override is not None:
            return override
        return self.card.threshold if self.card else 0.5

    def load_model(self, path: str | Path, fallback: bool = False) -> None:
        """Load a bundle in a worker thread; `modelReady` or `modelFailed` follows."""
        self._load_request += 1
        self._loading_path = Path(path)
        self._update_model_status()
        loader = ModelLoader(self._load_request, path, batch_size=self.batch_size,
                             fallback_dirs=self.model_dirs if fallback else None)
        loader.loaded.connect(self._model_loaded)
        loader.failed.connect(self._model_failed)
        self._pool.start(loader, "model-loader")

    def switch_model(self, path: str | Path) -> None:
        """Make `path` the active model (remembered for the next start)."""
        self.settings.active_model = str(path)
        self.load_model(path)

    @Slot(int, object, str)
    def _model_loaded(self, request: int, predictor: Predictor, device: str) -> None:
        if request != self._load_request or self._closing:
            return
        previous = self._predictor
        self._predictor, self._device = predictor, device
        if self.intake is not None:
            self.intake.set_predictor(predictor)
        if previous is not None and previous.bundle.path != predictor.bundle.path:
            self._audit("model_switch", f"{previous.bundle.name} -> {predictor.bundle.name}",
                        model=predictor.bundle.name)
        self._loading_path, self._model_error = None, ""
        predictor.set_threshold(self.threshold)
        self.result_panel.set_model(predictor.bundle.card, self.threshold, device)
        self._update_model_status()
        self._update_actions()
        self.statusBar().showMessage(f"Model {predictor.bundle.name} ready on {device}", 5000)
        self.modelReady.emit(predictor.bundle.name)
        if self._current is not None and self._current.path == self._current_path:
            self._score_current()  # the study on screen, with the new model
        elif self._current_path is not None:
            self.open_image(self._current_path)  # a study was being opened meanwhile
        else:
            self.result_panel.clear()
        if self._pending_batch is not None:
            paths, self._pending_batch = self._pending_batch, None
            self.score_paths(paths)

    @Slot(int, str, str)
    def _model_failed(self, request: int, path: str, message: str) -> None:
        if request != self._load_request or self._closing:
            return
        self._loading_path, self._model_error = None, message
        self._update_model_status()
        self._update_actions()
        if self._predictor is None:
            self.result_panel.set_model(None, self.threshold,
                                        "No model loaded: choose one with Model → Models… "
                                        "(Ctrl+M)")
            self.result_panel.show_error(f"No model: {message}")
            if self._pending_batch is not None:
                self._pending_batch = None
                self.statusBar().showMessage("The batch was not scored: no model", 8000)
        else:
            self._message("Model not changed",
                          f"{message}\n\nStill using {self._predictor.bundle.name}.")
        self.modelFailed.emit(message)

    def _update_model_status(self) -> None:
        if self._loading_path is not None:
            text = f"Model: loading {self._loading_path.name}…"
            style = "color:#8a6d00;"
        elif self._predictor is not None:
            text = f"Model: {self._predictor.bundle.name} · {self._device} · ready"
            style = "color:#1b5e20;"
        else:
            text = "No model (Ctrl+M)"
            style = "color:#b71c1c;"
        self.model_status.setText(text)
        self.model_status.setStyleSheet(style)
        if self._model_error:
            self.model_status.setToolTip(self._model_error)
        self._update_threshold_status()

    def _update_threshold_status(self) -> None:
        card, threshold = self.card, self.threshold
        if card is not None and abs(threshold - card.threshold) > 1e-9:
            self.threshold_status.setText(f"⚠ Threshold {percent(threshold)} "
                                          f"(model's: {percent(card.threshold)})")
            self.threshold_status.setStyleSheet(WARNING_STYLE)
            self.threshold_status.setToolTip("Your threshold replaces the model's validated one "
                                             "(Preferences, Ctrl+,)")
        else:
            self.threshold_status.setText(f"Threshold {percent(threshold)}" if card else "")
            self.threshold_status.setStyleSheet("")
            self.threshold_status.setToolTip("The model's validated decision threshold")

    def set_threshold_override(self, value: float | None) -> None:
        """Use `value` instead of the model's threshold (None: back to the model's)."""
        before = self.threshold
        self.settings.threshold_override = value
        threshold = self.threshold
        if threshold != before:
            self._audit("threshold_change", f"{before:.4f} -> {threshold:.4f}" + (
                "" if value is not None else " (back to the model's)"), threshold=threshold)
        if self._predictor is not None:
            self._predictor.set_threshold(threshold)
        self.batch_model.set_threshold(threshold)
        self.batch_panel.update_summary()
        if self._current is not None and self._current.prediction is not None:
            self._current.prediction = dataclasses.replace(self._current.prediction,
                                                           threshold=threshold)
        self.result_panel.set_threshold(threshold)
        self._update_threshold_status()

    # ==== single study ====================================================================
    @property
    def current_result(self) -> ImageResult | None:
        return self._current

    @property
    def current_path(self) -> Path | None:
        return self._current_path

    def open_image(self, path: str | Path) -> None:
        """Show a study and score it with a heat map (asynchronously; `imageScored` follows)."""
        path = Path(path)
        self._image_request += 1
        self._current_path = path
        self.settings.last_image_dir = str(path.parent)
        self.result_panel.show_waiting(f"Opening {path.name}…")
        self.statusBar().showMessage(f"Opening {path.name}…")
        worker = ImageScorer(self._image_request, path, self._predictor,
                             include_patient=self.patient_action.isChecked())
        worker.scored.connect(self._image_scored)
        worker.failed.connect(self._image_failed)
        self._pool.start(worker, "image-scorer")

    def _score_current(self) -> None:
        """Score the image on screen again (new model), keeping zoom and contrast."""
        current = self._current
        self._image_request += 1
        self.result_panel.show_waiting("Scoring…")
        worker = ImageScorer(self._image_request, current.path, self._predictor,
                             image=current.image)
        worker.scored.connect(self._image_scored)
        worker.failed.connect(self._image_failed)
        self._pool.start(worker, "image-scorer")

    @Slot(object)
    def _image_scored(self, result: ImageResult) -> None:
        if result.request != self._image_request or self._closing:
            return  # a newer request superseded this one
        same_image = self._current is not None and result.image is self._current.image
        self._current = result
        if not same_image:
            self.viewer.set_image(result.image.pixels)
            self.result_panel.show_study(result.path, result.image.format,
                                         result.image.pixels.shape, result.image.metadata)
            self.setWindowTitle(f"Pneumo Desktop — {result.path.name}")
            self.imageOpened.emit(str(result.path))
        self._update_actions()
        if result.prediction is None:
            self.viewer.set_heatmap(None)
            self.viewer.set_banner("")
            if self._predictor is not None:  # the model became ready while decoding
                self._score_current()
                return
            self.result_panel.show_waiting(
                "The model is still loading; the result appears as soon as it is ready."
                if self.is_model_loading else
                "No model is loaded, so the image was not scored (Model → Models…, Ctrl+M).")
            self.statusBar().showMessage(f"Opened {result.path.name}", 4000)
            return
        if result.prediction.threshold != self.threshold:
            result.prediction = dataclasses.replace(result.prediction, threshold=self.threshold)
        self._show_current()

    def _show_current(self) -> None:
        """The scored study on screen: withheld with the input check's reason, or its score and
        heat map (marked outside intended use when scored anyway)."""
        result = self._current
        prediction, name = result.prediction, result.path.name
        self._update_actions()
        if result.withheld:
            refusal = prediction.refusal
            self.viewer.set_heatmap(None)
            self.viewer.set_banner(refused_text(refusal), REFUSED_STYLE)
            self.result_panel.show_refused(refusal)
            self.statusBar().showMessage(f"{name}: {refusal.message}", 8000)
            self.imageRefused.emit(str(result.path), refusal.reason)
            return
        self.viewer.set_heatmap(result.heat)
        self.viewer.set_heatmap_visible(self.heatmap_action.isChecked())
        self.viewer.set_banner(outside_use_text(prediction), OUTSIDE_STYLE)
        self.result_panel.show_prediction(prediction)
        mark = " — outside what the model was made for" if prediction.refusal else ""
        self.statusBar().showMessage(f"{name}: probability {percent(prediction.probability)}"
                                     f"{mark}", 5000)
        self.imageScored.emit(str(result.path), prediction.probability)

    def score_anyway(self) -> bool:
        """Show the withheld score and heat map of the refused study on screen (no new model
        run), marked as outside what the model was made for, and reveal its batch row too.
        False when the study on screen is not one the input check refused."""
        result = self._current
        if result is None or not result.withheld:
            return False
        result.forced = True
        prediction = result.prediction
        self._audit("score_anyway", prediction.outside_use_note, path=result.path,
                    probability=prediction.probability, threshold=prediction.threshold)
        if self.batch_model.score_anyway(result.path):
            self.batch_panel.update_summary()
        self._show_current()
        return True

    @Slot(int, str, str)
    def _image_failed(self, request: int, path: str, message: str) -> None:
        if request != self._image_request or self._closing:
            return
        if self._current is None or str(self._current.path) != path:
            self._current = None
            self.viewer.clear()
            self.result_panel.clear()
            self.setWindowTitle("Pneumo Desktop")
        self.result_panel.show_error(message)
        self._update_actions()
        self.statusBar().showMessage(message, 8000)
        self.imageFailed.emit(path, message)

    def set_heatmap_visible(self, visible: bool) -> None:
        """Show or hide the heat-map layer (H)."""
        self.viewer.set_heatmap_visible(visible)
        self.heatmap_action.setChecked(visible)
        self.result_panel.heatmap_toggle.setChecked(visible)
        self.settings.overlay_visible = visible

    @Slot(float)
    def _opacity_changed(self, opacity: float) -> None:
        self.viewer.set_heatmap_opacity(opacity)
        self.settings.overlay_opacity = opacity

    def _step_opacity(self, delta: float) -> None:
        self.result_panel.set_opacity(min(1.0, max(0.0, self.viewer.heatmap_opacity + delta)))

    def _show_patient_toggled(self, shown: bool) -> None:
        if self._current is not None and self._current.image.format == "DICOM":
            self.open_image(self._current.path)

    def _step_study(self, delta: int) -> None:
        path = self.batch_panel.step(delta)
        if path:
            self.open_image(path)

    @Slot(float)
    def _zoom_changed(self, zoom: float) -> None:
        self._update_view_status()

    @Slot(float, float)
    def _window_level_changed(self, window: float, level: float) -> None:
        self._update_view_status()

    def _update_view_status(self) -> None:
        if not self.viewer.has_image:
            self.view_status.setText("")
            return
        window, level = self.viewer.window_level
        self.view_status.setText(f"Zoom {self.viewer.zoom * 100:.0f} % · W {window:.0f} "
                                 f"L {level:.0f}")

    # ==== batch ===========================================================================
    @property
    def is_batch_running(self) -> bool:
        return self._batch is not None

    def score_folder(self, path: str | Path) -> bool:
        """Score every image below a folder; `batchFinished(scored, failed)` follows."""
        return self.score_paths([path])

    def score_paths(self, paths: list[str | Path]) -> bool:
        """Score files and folders; False when it cannot start now (see the status bar)."""
        paths = [Path(p) for p in paths]
        if self._batch is not None:
            self._message("Batch already running",
                          "Wait for the current batch to finish, or cancel it (Esc).")
            return False
        if self._predictor is None:
            if self.is_model_loading:
                self._pending_batch = paths
                self.statusBar().showMessage("The batch starts when the model is ready…")
                return True
            self._message("No model", "No model is loaded, so nothing can be scored. "
                                      "Choose one in Model → Models… (Ctrl+M).")
            return False
        folder = paths[0] if len(paths) == 1 and paths[0].is_dir() else paths[0].parent
        self.settings.last_batch_dir = str(folder)
        self.batch_model.start(self._predictor.bundle.name, self.threshold, paths,
                               learned=self._predictor.has_learned_check)
        self.batch_panel.begin(0)
        self.batch_dock.show()
        self._batch_predictor = self._predictor
        worker = BatchScorer(self._predictor, paths)
        worker.counted.connect(self._batch_counted)
        worker.rows.connect(self._batch_rows)
        worker.progress.connect(self._batch_progress)
        worker.done.connect(self._batch_done)
        worker.crashed.connect(self._batch_crashed)
        self._batch = worker
        self._update_actions()
        self.statusBar().showMessage("Scoring…")
        self._pool.start(worker, "batch-scorer")
        return True

    def cancel_batch(self) -> None:
        """Stop the running batch after the images being scored; rows so far are kept."""
        if self._batch is not None:
            self._batch.cancel()
            self.batch_panel.rate_label.setText("Cancelling…")
            self.batch_panel.cancel_button.setEnabled(False)
        elif self._report is not None:
            self._report.cancel()

    @Slot(int)
    def _batch_counted(self, total: int) -> None:
        self.batch_panel.begin(total)

    @Slot(object)
    def _batch_rows(self, items: list[ScoredFile]) -> None:
        self.batch_model.add(items)
        for item in items:
            if item.prediction is not None:
                self.imageScored.emit(str(item.path), item.prediction.probability)

    @Slot(int, int, float)
    def _batch_progress(self, done: int, total: int, seconds: float) -> None:
        self.batch_panel.set_progress(done, total, seconds)

    @Slot(str)
    def _batch_crashed(self, message: str) -> None:
        self._message("Batch stopped", message)

    @Slot(int, int, bool)
    def _batch_done(self, scored: int, failed: int, cancelled: bool) -> None:
        self._batch = None
        self.batch_panel.finish(cancelled)
        self._update_actions()
        if scored + failed == 0 and not cancelled:
            text = "No images found to score"
        else:  # from the table: a row may have been scored anyway meanwhile
            shown, _, not_shown = self.batch_model.counts()
            refused = self.batch_model.refused_count()
            text = (f"{'Cancelled: ' if cancelled else ''}{shown} scored, "
                    f"{refused} not scored (not a frontal chest X-ray), "
                    f"{not_shown - refused} could not be read")
        self.statusBar().showMessage(text, 10000)
        self.batchFinished.emit(scored, failed)

    # ==== export ==========================================================================
    def _default_export(self, suffix: str) -> str:
        root = self.batch_model.root
        stem = f"{root.name}_" if root is not None else ""
        folder = self.settings.last_export_dir or (str(root) if root else str(Path.home()))
        return str(Path(folder) / f"{stem}pneumo_scores{suffix}")

    def export_csv(self, path: str | Path | None = None) -> bool:
        """Write the batch table as CSV (the CLI's columns); asks for a file when no path."""
        if self.batch_model.rowCount() == 0:
            self.statusBar().showMessage("Nothing to export yet: score a folder first", 5000)
            return False
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export CSV",
                                                  self._default_export(".csv"),
                                                  "CSV files (*.csv)")
            if not path:
                return False
        from pneumo_desktop.model.scoring import write_csv

        try:
            write_csv(path, self.batch_model.csv_rows())
        except OSError as exc:
            self._message("Export failed", f"The CSV could not be written: {exc}")
            return False
        self.settings.last_export_dir = str(Path(path).parent)
        self.statusBar().showMessage(f"Saved {path}", 6000)
        return True

    def export_pdf(self, path: str | Path | None = None) -> bool:
        """Write the PDF report in a worker; `reportWritten(path)` or `reportFailed` follows."""
        if self.batch_model.rowCount() == 0:
            self.statusBar().showMessage("Nothing to report yet: score a folder first", 5000)
            return False
        if self._report is not None or self._batch is not None:
            self.statusBar().showMessage("Wait for the running batch or report to finish", 5000)
            return False
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Save PDF report",
                                                  self._default_export(".pdf"),
                                                  "PDF files (*.pdf)")
            if not path:
                return False
        predictor = self._batch_predictor
        card = predictor.bundle.card if predictor else None
        data = ReportData(items=self.batch_model.items(), model_name=self.batch_model.model_name,
                          threshold=self.batch_model.threshold, card=card,
                          opacity=self.viewer.heatmap_opacity,
                          source=str(self.batch_model.root or ""))
        worker = ReportWriter(path, data, predictor)
        worker.progress.connect(self._report_progress)
        worker.written.connect(self._report_written)
        worker.failed.connect(self._report_failed)
        self._report = worker
        self.settings.last_export_dir = str(Path(path).parent)
        self.statusBar().showMessage("Writing the PDF report…")
        self._update_actions()
        self._pool.start(worker, "report-writer")
        return True

    @Slot(int, int)
    def _report_progress(self, done: int, total: int) -> None:
        self.statusBar().showMessage(f"Writing the PDF report: study {done} of {total}…")

    @Slot(str)
    def _report_written(self, path: str) -> None:
        self._report = None
        self._update_actions()
        self.statusBar().showMessage(f"Saved {path}", 8000)
        self.reportWritten.emit(path)

    @Slot(str)
    def _report_failed(self, message: str) -> None:
        self._report = None
        self._update_actions()
        self._message("Report not written", message)
        self.reportFailed.emit(message)

    # ==== dialogs =========================================================================
    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open chest X-ray",
                                              self.settings.last_image_dir, IMAGE_FILTER)
        if path:
            self.open_image(path)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Score every image in a folder",
                                                  self.settings.last_batch_dir)
        if folder:
            self.score_folder(folder)

    def choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Score images",
                                                self.settings.last_batch_dir, IMAGE_FILTER)
        if paths:
            self.score_paths(paths)

    def open_model_manager(self) -> QWidget:
        """Show the model manager (non-modal) and return it."""
        from pneumo_desktop.gui.model_manager import ModelManagerDialog

        dialog = ModelManagerDialog(self, folders=self.model_dirs,
                                    active=self.model_path or self.settings.active_model or None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.modelChosen.connect(self.switch_model)
        dialog.show()
        return dialog

    def open_training_wizard(self) -> QWidget:
        """Open the training wizard (window-modal, non-blocking) and return it."""
        from pneumo_desktop.gui.training_wizard import TrainingWizard

        active = self.model_path or (Path(self.settings.active_model)
                                     if self.settings.active_model else None)
        wizard = TrainingWizard(self, active_model=Path(active) if active else None,
                                models_dir=self.user_models_dir)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.modelSaved.connect(self._trained_model_saved)
        wizard.destroyed.connect(self._wizard_closed)
        self._wizard = wizard
        wizard.open()
        return wizard

    @Slot(str, bool)
    def _trained_model_saved(self, path: str, make_active: bool) -> None:
        self.statusBar().showMessage(f"Model saved: {path}", 8000)
        if make_active:
            self.switch_model(path)

    @Slot()
    def _wizard_closed(self) -> None:
        self._wizard = None

    def open_preferences(self) -> None:
        from pneumo_desktop.gui.preferences import PreferencesDialog

        dialog = PreferencesDialog(self, model_threshold=self.card.threshold if self.card
                                   else None, override=self.settings.threshold_override)
        if dialog.exec():
            self.set_threshold_override(dialog.override())

    def show_shortcuts(self) -> None:
        rows = []
        for action in self.findChildren(QAction):
            keys = [k.toString(QKeySequence.SequenceFormat.NativeText)
                    for k in action.shortcuts() if not k.isEmpty()]
            if keys and action.text():
                rows.append((action.text().replace("&", "").replace("…", ""), ", ".join(keys)))
        rows += [("Zoom around the cursor", "Mouse wheel"), ("Pan", "Drag"),
                 ("Window / level", "Right-drag (left-right / up-down)")]
        table = "".join(f"<tr><td>{html.escape(a)}</td><td><b>{html.escape(k)}</b></td></tr>"
                        for a, k in sorted(rows))
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts",
                          f"<table cellspacing=4>{table}</table>", parent=self)
        box.open()

    def show_about(self) -> None:
        model = (f"Model: {html.escape(self.model_name)} ({self._device})" if self.card
                 else "No model loaded")
        box = QMessageBox(QMessageBox.Icon.Information, "About Pneumo Desktop",
                          f"<h3>Pneumo Desktop {__version__}</h3>"
                          "<p>Offline screening of pediatric chest X-rays for pneumonia, with "
                          "heat maps of what drove each score.</p>"
                          "<p><b>Decision support only — not a diagnosis.</b> Every result must "
                          f"be reviewed by a clinician.</p><p>{model}</p>", parent=self)
        box.open()

    def _message(self, title: str, text: str) -> None:
        """A non-blocking warning (and the status bar), so workers and tests never stall."""
        self.statusBar().showMessage(text.split("\n")[0], 10000)
        if self._closing:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _update_actions(self) -> None:
        running = self._batch is not None
        has_rows = self.batch_model.rowCount() > 0
        self.csv_action.setEnabled(has_rows and not running)
        self.pdf_action.setEnabled(has_rows and not running and self._report is None)
        self.cancel_action.setEnabled(running or self._report is not None)
        self.score_anyway_action.setEnabled(self._current is not None and self._current.withheld)
        self.batch_panel.set_running(running)
        if self._report is not None:
            self.batch_panel.pdf_button.setEnabled(False)

    # ==== drag and drop, closing ==========================================================
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and all(url.isLocalFile() for url in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        # Start the work after the drop returns (the source application waits for it).
        QTimer.singleShot(0, lambda: self.handle_drop(paths))

    def handle_drop(self, paths: list[Path]) -> None:
        """One file opens in the viewer; a folder or several files are scored as a batch."""
        if len(paths) == 1 and paths[0].is_file():
            self.open_image(paths[0])
        else:
            self.score_paths(paths)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel running work and wait for every worker thread to end."""
        self._closing = True
        if self._wizard is not None:
            self._wizard.shutdown(timeout_ms)
        if self._batch is not None:
            self._batch.cancel()
        if self._report is not None:
            self._report.cancel()
        if self.intake is not None:
            self.intake.shutdown()
            self.intake = None
        if self.audit is not None:
            self.audit.close()
            self.audit = None
        return self._pool.wait_all(timeout_ms)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.sync()
        self.hide()  # do not look frozen while a worker finishes
        self.shutdown()
        super().closeEvent(event)
