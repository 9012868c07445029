"""The window's records: the audit log (opened in a worker at start; user overrides recorded in
it, queued while it opens) and the worklist dock built on it on first use."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QLabel

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.intake.audit_opener import AuditLogOpener
from pneumo_desktop.gui.monitoring.dock import attach_monitoring

if TYPE_CHECKING:
    from pneumo_desktop.gui.intake.intake_dock import IntakeDock
    from pneumo_desktop.gui.window.main_window import MainWindow
    from pneumo_desktop.intake.audit_log import AuditLog


INTAKE_MODULES = ("pneumo_desktop.intake.receiving", "pneumo_desktop.intake.pipeline",
                  "pneumo_desktop.intake.results.dicom_client")


class RecordsController(QObject):
    """Opens the audit log off the GUI thread as soon as it is built: its integrity check takes
    longer as it grows, and the window must not wait for it. Overrides made meanwhile are
    queued; when it cannot be opened the status bar says why and the app still scores what is
    opened or dropped."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.audit: AuditLog | None = None
        self.intake: IntakeDock | None = None  # built on first use (see ensure_intake)
        self.opening = True
        self.error = ""  # why the worklist and audit log are unavailable
        self.verification = ""  # what the check of the audit log's hash chain found
        self._queue: list[tuple[str, str, dict]] = []  # overrides made while it opens
        self._after: list[Callable[[], object]] = []  # waiting for the log: worklist...
        # the worklist's (non-Qt) networking stack is imported by the opener, off the GUI
        # thread: first when the receiver starts with the window (it was on at the last close)
        opener = AuditLogOpener(preload=INTAKE_MODULES,
                                preload_first=window.settings.receiving_enabled)
        opener.opened.connect(self._opened)
        opener.failed.connect(self._failed)
        opener.verified.connect(self._verified)
        window.pool.start(opener, "audit-log-opener")

    @Slot(object)
    def _opened(self, log: AuditLog) -> None:
        self.opening = False
        if self.window.closing:
            log.close()
            return
        self.audit = log
        queued, self._queue = self._queue, []
        for kind, detail, fields in queued:
            self.record(kind, detail, **fields)
        actions, self._after = self._after, []
        for action in actions:
            action()
        attach_monitoring(self.window)

    @Slot(bool, str)
    def _verified(self, intact: bool, text: str) -> None:
        """The audit log's hash chain checked (in the opener's worker): a lasting label in the
        status bar says so (red when broken), beside the passing messages."""
        self.verification = text
        label = QLabel(text.split(":")[0] + (" ✓" if intact else ""))
        label.setObjectName("auditStatus")
        label.setToolTip(text)
        if not intact:
            label.setText(text)
            label.setStyleSheet("color: #c62828; font-weight: bold")
            label.setWordWrap(True)
        self.window.statusBar().addPermanentWidget(label, 0 if intact else 1)

    @Slot(str)
    def _failed(self, message: str) -> None:
        self.opening = False
        self.error = f"Worklist and audit log unavailable: {message}"
        if self._queue:
            self.error += (f" ({len(self._queue)} override(s) made meanwhile "
                           "were not recorded)")
        self._queue = []
        self._after = []
        self.window.statusBar().showMessage(self.error, 15000)

    def when_ready(self, action: Callable[[], object]) -> None:
        """Run `action` now if the audit log is open, once it is while it opens; say why not
        when it cannot be opened."""
        if self.opening:
            self._after.append(action)
        elif self.audit is not None:
            action()
        else:
            self.window.statusBar().showMessage(self.error, 8000)

    def record(self, kind: str, detail: str, **fields) -> None:
        """Record a user override in the audit log (queued while it opens)."""
        if self.opening:
            self._queue.append((kind, detail, fields))
        elif self.audit is not None:
            try:
                self.audit.log_override(kind, detail, **fields)
            except (OSError, PneumoError, sqlite3.Error) as exc:
                self.window.statusBar().showMessage(
                    f"The audit log could not be written: {exc}", 8000)

    # -- the worklist --------------------------------------------------------------------------
    def ensure_intake(self) -> IntakeDock | None:
        """The worklist dock and its receiver, built on first use (the DICOM networking stack
        is imported only then, not at every start)."""
        window = self.window
        if self.intake is None and self.audit is not None:
            from pneumo_desktop.gui.intake.intake_dock import IntakeDock

            dock = IntakeDock(window.settings, self.audit, window)
            dock.openRequested.connect(window.open_image)
            dock.announced.connect(lambda text: window.statusBar().showMessage(text, 15000))
            dock.runningChanged.connect(lambda running: dock.show() if running else None)
            window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
            window.tabifyDockWidget(window.batch_dock, dock)
            dock.set_predictor(window.models.predictor)
            self.intake = dock
        return self.intake

    def show_worklist(self) -> None:
        """Show the worklist (Ctrl+L)."""
        def show() -> None:
            dock = self.ensure_intake()
            dock.show()
            dock.raise_()
        self.when_ready(show)

    def edit_receiving(self) -> None:
        self.when_ready(lambda: self.ensure_intake().edit_settings())

    def show_monitoring(self) -> None:
        """Show the Monitoring dock (once the audit log is open)."""
        self.when_ready(lambda: attach_monitoring(self.window, show=True))

    def shutdown(self) -> None:
        """Stop the receiver and monitoring, and close the audit log."""
        if self.window.monitoring is not None:
            self.window.monitoring.shutdown()
        if self.intake is not None:
            self.intake.shutdown()
            self.intake = None
        if self.audit is not None:
            self.audit.close()
            self.audit = None
