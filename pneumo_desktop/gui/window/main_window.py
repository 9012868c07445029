"""The main window: viewer + result panel, batch results dock, status bar, drag and drop; the
controllers it wires do the work (`models`, `study`, `batch`, `records`), `actions` builds its
menus and shortcuts, `help_boxes` its Help boxes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QWidget,
)

from pneumo_desktop.gui.batch.batch_model import BatchTableModel
from pneumo_desktop.gui.batch.batch_panel import BatchPanel
from pneumo_desktop.gui.settings import AppSettings
from pneumo_desktop.gui.viewer.result_panel import ResultPanel
from pneumo_desktop.gui.viewer.viewer import XRayViewer
from pneumo_desktop.gui.window import help_boxes
from pneumo_desktop.gui.window.actions import build_actions
from pneumo_desktop.gui.window.batch_controller import BatchController
from pneumo_desktop.gui.window.model_controller import ModelController
from pneumo_desktop.gui.window.records_controller import RecordsController
from pneumo_desktop.gui.window.study_controller import StudyController
from pneumo_desktop.gui.workers import ThreadPool
from pneumo_desktop.imaging.image_io import IMAGE_SUFFIXES
from pneumo_desktop.model.bundle import default_bundle_path, default_model_dirs

if TYPE_CHECKING:
    from pneumo_desktop.gui.intake.intake_dock import IntakeDock
    from pneumo_desktop.gui.viewer.image_scorer import ImageResult
    from pneumo_desktop.intake.audit_log import AuditLog
    from pneumo_desktop.model.bundle import ModelCard
    from pneumo_desktop.model.inference import Predictor

IMAGE_FILTER = ("Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;"
                "All files (*)")


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

    The controllers hold the state: `models` (the model and threshold), `study` (the study on
    screen), `batch` (the batch table, CSV and PDF), `records` (audit log and worklist).
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
        self.batch_size = batch_size
        self.pool = ThreadPool(self)
        self.closing = False
        self._wizard: QWidget | None = None

        self._build_widgets()
        self.monitoring = None  # the Monitoring dock, once the audit log is open
        self.records = RecordsController(self)  # opens the audit log in a worker
        self.models = ModelController(self)
        self.study = StudyController(self)
        self.result_panel.relativeHeatmapRequested.connect(self.study.show_relative_heatmap)
        self.batch = BatchController(self)
        build_actions(self)
        self._build_status_bar()
        self.setAcceptDrops(True)
        self.setWindowTitle("Pneumo Desktop")
        self._restore_geometry()

        explicit = model_path is not None
        chosen = Path(model_path) if explicit else Path(self.settings.active_model or
                                                        default_bundle_path())
        self.load_model(chosen, fallback=not explicit)
        if self.settings.receiving_enabled:  # it was on when the app last closed
            self.records.when_ready(lambda: self.ensure_intake() and self.intake.start())

    # ==== construction ====================================================================
    def _build_widgets(self) -> None:
        self.viewer = XRayViewer()
        self.result_panel = ResultPanel()
        self.result_panel.set_opacity(self.settings.overlay_opacity)
        self.viewer.set_heatmap_opacity(self.settings.overlay_opacity)
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

    def update_actions(self) -> None:
        """Enable what can be done now (export, cancel, score anyway)."""
        running = self.batch.running
        reporting = self.batch.report is not None
        has_rows = self.batch_model.rowCount() > 0
        self.csv_action.setEnabled(has_rows and not running)
        self.pdf_action.setEnabled(has_rows and not running and not reporting)
        self.cancel_action.setEnabled(running or reporting)
        self.score_anyway_action.setEnabled(self.study.withheld)
        self.batch_panel.set_running(running)
        if reporting:
            self.batch_panel.pdf_button.setEnabled(False)

    def warn(self, title: str, text: str) -> None:
        """A non-blocking warning (and the status bar), so workers and tests never stall."""
        self.statusBar().showMessage(text.split("\n")[0], 10000)
        if self.closing:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ==== model (see ModelController) =====================================================
    @property
    def is_model_ready(self) -> bool:
        return self.models.is_ready

    @property
    def is_model_loading(self) -> bool:
        return self.models.is_loading

    @property
    def model_name(self) -> str:
        return self.models.name

    @property
    def model_path(self) -> Path | None:
        return self.models.path

    @property
    def predictor(self) -> Predictor | None:
        return self.models.predictor

    @property
    def card(self) -> ModelCard | None:
        return self.models.card

    @property
    def threshold(self) -> float:
        """The threshold in force: the override when set, else the model's."""
        return self.models.threshold

    def load_model(self, path: str | Path, fallback: bool = False) -> None:
        """Load a bundle in a worker thread; `modelReady` or `modelFailed` follows."""
        self.models.load(path, fallback)

    def switch_model(self, path: str | Path) -> None:
        """Make `path` the active model (remembered for the next start)."""
        self.models.switch(path)

    def set_threshold_override(self, value: float | None) -> None:
        """Use `value` instead of the model's threshold (None: back to the model's)."""
        self.models.set_threshold_override(value)

    # ==== the study on screen (see StudyController) =======================================
    @property
    def current_result(self) -> ImageResult | None:
        return self.study.current

    @property
    def current_path(self) -> Path | None:
        return self.study.current_path

    def open_image(self, path: str | Path) -> None:
        """Show a study and score it with a heat map (asynchronously; `imageScored` follows)."""
        self.study.open(path)

    def score_anyway(self) -> bool:
        """Show the refused study on screen anyway, marked outside intended use (False when
        the study on screen is not one the input check refused)."""
        return self.study.score_anyway()

    def set_heatmap_visible(self, visible: bool) -> None:
        """Show or hide the heat-map layer (H)."""
        self.study.set_heatmap_visible(visible)

    # ==== batch (see BatchController) =====================================================
    @property
    def is_batch_running(self) -> bool:
        return self.batch.running

    def score_folder(self, path: str | Path) -> bool:
        """Score every image below a folder; `batchFinished(scored, failed)` follows."""
        return self.score_paths([path])

    def score_paths(self, paths: list[str | Path]) -> bool:
        """Score files and folders; False when it cannot start now (see the status bar)."""
        return self.batch.score_paths(paths)

    def cancel_batch(self) -> None:
        """Stop the running batch after the images being scored; rows so far are kept."""
        self.batch.cancel()

    def export_csv(self, path: str | Path | None = None) -> bool:
        """Write the batch table as CSV (the CLI's columns); asks for a file when no path."""
        return self.batch.export_csv(path)

    def export_pdf(self, path: str | Path | None = None) -> bool:
        """Write the PDF report in a worker; `reportWritten(path)` or `reportFailed` follows."""
        return self.batch.export_pdf(path)

    # ==== audit log and worklist (see RecordsController) ==================================
    @property
    def audit(self) -> AuditLog | None:
        return self.records.audit

    @property
    def intake(self) -> IntakeDock | None:
        """The worklist dock, once built (see `ensure_intake`)."""
        return self.records.intake

    @property
    def audit_ready(self) -> bool:
        """The audit log is open (False while it opens and when it cannot be opened)."""
        return self.records.audit is not None

    @property
    def audit_error(self) -> str:
        """Why the worklist and audit log are unavailable ('' while the log opens or once open)."""
        return self.records.error

    def ensure_intake(self) -> IntakeDock | None:
        """The worklist dock and its receiver, built on first use."""
        return self.records.ensure_intake()

    def show_worklist(self) -> None:
        """Show the worklist (Ctrl+L)."""
        self.records.show_worklist()

    def edit_receiving(self) -> None:
        self.records.edit_receiving()

    @property
    def audit_verification(self) -> str:
        """What the check of the audit log's hash chain found ('' until it ran)."""
        return self.records.verification

    def show_monitoring(self) -> None:
        """Show the Monitoring dock (Ctrl+Shift+M) once the audit log is open."""
        self.records.show_monitoring()

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
        from pneumo_desktop.gui.window.model_manager import ModelManagerDialog

        dialog = ModelManagerDialog(self, folders=self.model_dirs,
                                    active=self.model_path or self.settings.active_model or None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.modelChosen.connect(self.switch_model)
        dialog.show()
        return dialog

    def open_training_wizard(self) -> QWidget:
        """Open the training wizard (window-modal, non-blocking) and return it."""
        from pneumo_desktop.gui.wizard.wizard import TrainingWizard

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
        from pneumo_desktop.gui.window.preferences import PreferencesDialog

        dialog = PreferencesDialog(self, model_threshold=self.card.threshold if self.card
                                   else None, override=self.settings.threshold_override)
        if dialog.exec():
            self.set_threshold_override(dialog.override())

    def show_shortcuts(self) -> None:
        help_boxes.show_shortcuts(self)

    def show_about(self) -> None:
        help_boxes.show_about(self)

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
        self.closing = True
        if self._wizard is not None:
            self._wizard.shutdown(timeout_ms)
        self.batch.shutdown()
        self.records.shutdown()
        return self.pool.wait_all(timeout_ms)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.sync()
        self.hide()  # do not look frozen while a worker finishes
        self.shutdown()
        super().closeEvent(event)
