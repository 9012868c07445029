"""The Monitoring dock: the page, refreshed off the GUI thread (now, every REFRESH_MS, and
after reads are imported), its alerts in the status bar and the tray (each new one once) and
logged in the audit log, reads imported from a CSV, and "Recalibrate on my reads"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QMessageBox,
    QSystemTrayIcon,
    QWidget,
)

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.monitoring.page import MonitoringPage
from pneumo_desktop.gui.monitoring.recalibration import RecalibrationDialog
from pneumo_desktop.gui.workers import Worker
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.model.bundle import ModelCard
from pneumo_desktop.monitoring.input_drift import DEFAULT_WINDOW
from pneumo_desktop.monitoring.report import MonitorReport, monitor

REFRESH_MS = 10 * 60 * 1000


class MonitorWorker(Worker):
    """`monitoring.report.monitor` (alerts logged) in a worker thread."""

    done = Signal(object)  # MonitorReport
    failed = Signal(str)

    def __init__(self, audit: AuditLog, card: ModelCard | None, window: int):
        super().__init__()
        self.audit, self.card, self.window = audit, card, window

    def work(self) -> None:
        try:
            report = monitor(self.audit, self.card, window=self.window)
        except Exception as exc:  # shown on the page; the app goes on
            self.failed.emit(str(exc))
        else:
            self.done.emit(report)


class MonitoringDock(QDockWidget):
    """`card()` gives the active model's card, `model_path()` its folder; `pool` runs the
    workers (the main window's, so closing waits for them)."""

    announced = Signal(str)  # an alert for the status bar
    reportReady = Signal(object)  # MonitorReport
    switchRequested = Signal(str)  # a recalibrated model saved: make it the active one

    def __init__(self, audit: AuditLog, card: Callable[[], ModelCard | None],
                 model_path: Callable[[], Path | None], pool, models_dir: Path,
                 parent: QWidget | None = None, window: int = DEFAULT_WINDOW):
        super().__init__("Monitoring", parent)
        self.setObjectName("monitoringDock")
        self.audit, self.card, self.model_path = audit, card, model_path
        self.pool, self.models_dir, self.window = pool, Path(models_dir), window
        self.page = MonitoringPage()
        self.setWidget(self.page)
        self.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea
                             | Qt.DockWidgetArea.RightDockWidgetArea)
        self.report: MonitorReport | None = None
        self._running: MonitorWorker | None = None
        self._again = False
        self._announced: set[str] = set()  # alerts already in the status bar and tray
        self._closed = False
        self.page.refresh_button.clicked.connect(self.refresh)
        self.page.import_button.clicked.connect(self.choose_reads)
        self.page.recalibrate_button.clicked.connect(self.recalibrate)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(QApplication.windowIcon(), self)
            self.tray.setToolTip("Pneumo Desktop: monitoring")
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    # -- figures ----------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Recompute the report in a worker (once more after it if asked meanwhile)."""
        if self._closed:
            return
        if self._running is not None:
            self._again = True
            return
        worker = MonitorWorker(self.audit, self.card(), self.window)
        worker.done.connect(self._done)
        worker.failed.connect(self._failed)
        worker.finished.connect(self._finished)
        self._running = worker
        self.pool.start(worker, "monitor")

    @Slot()
    def _finished(self) -> None:
        self._running = None
        if self._again:
            self._again = False
            self.refresh()

    @Slot(object)
    def _done(self, report: MonitorReport) -> None:
        self.report = report
        self.page.show_report(report)
        for alert in report.alerts:
            if alert.key in self._announced:
                continue
            self._announced.add(alert.key)
            text = f"Monitoring alert ({alert.kind}): {alert.message}: {alert.action}"
            self.announced.emit(text)
            if self.tray is not None:
                self.tray.show()
                self.tray.showMessage("Pneumo Desktop: monitoring", f"{alert.message}.\n"
                                      f"{alert.action}", QSystemTrayIcon.MessageIcon.Warning,
                                      15000)
        self._announced &= {a.key for a in report.alerts}  # a cleared alert may come back
        self.reportReady.emit(report)

    @Slot(str)
    def _failed(self, message: str) -> None:
        self.page.show_error(message)

    # -- reads ------------------------------------------------------------------------------
    def choose_reads(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import reads (CSV: study, read)",
                                              str(Path.home()), "CSV (*.csv);;All files (*)")
        if path:
            self.import_reads(path)

    def import_reads(self, path: str | Path) -> bool:
        """Import a reading list (all its reads, or none with the reasons); then refresh."""
        from pneumo_desktop.intake.reads_import import import_reads

        try:
            result = import_reads(self.audit, path)
        except PneumoError as exc:
            QMessageBox.warning(self, "Import reads", str(exc))
            return False
        self.announced.emit(f"Reads imported: {result.summary()}")
        self.refresh()
        return True

    # -- recalibration ----------------------------------------------------------------------
    def recalibrate(self) -> RecalibrationDialog | None:
        """Open the before/after dialog; it recalibrates in the compute process."""
        model = self.model_path()
        if model is None:
            self.announced.emit("No active model to recalibrate")
            return None
        dialog = RecalibrationDialog(self.audit.path, model, self.models_dir, self.pool, self)
        dialog.switchRequested.connect(self._switch)
        dialog.show()
        dialog.start()
        return dialog

    @Slot(str)
    def _switch(self, path: str) -> None:
        self.switchRequested.emit(path)
        self.announced.emit(f"Now using the recalibrated model {Path(path).name}")

    def shutdown(self) -> None:
        """No refresh from now on (the window closes, its audit log with it)."""
        self._closed = True
        self.timer.stop()


FIRST_REFRESH_MS = 20_000  # after the start, once the model and the worklist are up


def attach_monitoring(window, show: bool = False) -> MonitoringDock | None:
    """The main window's Monitoring dock, built once its audit log is open (None until
    then): tabbed with the batch results, alerts in its status bar, a recalibrated model
    made active through `window.switch_model`."""
    dock = getattr(window, "monitoring", None)
    if dock is None:
        if window.audit is None:
            return None
        dock = MonitoringDock(window.audit, lambda: window.card, lambda: window.model_path,
                              window.pool, window.user_models_dir, window)
        dock.announced.connect(lambda text: window.statusBar().showMessage(text, 20000))
        dock.switchRequested.connect(window.switch_model)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        window.tabifyDockWidget(window.batch_dock, dock)
        window.monitoring = dock
        dock.hide()
        QTimer.singleShot(FIRST_REFRESH_MS, dock, dock.refresh)
    if show:
        dock.show()
        dock.raise_()
        dock.refresh()
    return dock
