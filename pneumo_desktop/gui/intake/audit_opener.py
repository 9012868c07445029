"""Opening the audit log off the GUI thread (its integrity check grows with the log)."""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

from PySide6.QtCore import Signal

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.workers import Worker


class AuditLogOpener(Worker):
    """Opens the audit log (its integrity check grows with the log: 0.3 s at 200 000 events)
    off the GUI thread and emits it, or why it cannot be opened.

    `preload` names modules to import here, not in the GUI thread as the worklist is built:
    the worklist's DICOM networking stack (pydicom, pynetdicom: 0.3-0.4 s on a 2-core
    machine). With `preload_first` (the receiver starts with the window) they are imported
    before the log is emitted, else after its check, ready for a worklist opened later."""

    opened = Signal(object)  # AuditLog
    failed = Signal(str)
    verified = Signal(bool, str)  # hash chain intact, what to say (after `opened`)

    def __init__(self, path: str | Path | None = None, preload: tuple[str, ...] = (),
                 preload_first: bool = False):
        super().__init__()
        self.path = path
        self.preload = preload
        self.preload_first = preload_first

    def work(self) -> None:
        import sqlite3

        from pneumo_desktop.intake.audit_log import AuditLog

        if self.preload_first:
            self._import_preload()
        try:
            log = AuditLog(self.path)
        except (OSError, PneumoError, sqlite3.Error) as exc:
            self.failed.emit(str(exc))
        else:
            self.opened.emit(log)
            try:
                report = log.verify()  # on its own connection: the log is in use meanwhile
            except (OSError, sqlite3.Error) as exc:
                self.verified.emit(False, f"Audit log not verified: {exc}")
            else:
                self.verified.emit(report.intact, (
                    f"Audit log verified: {report.events} events, hash chain intact"
                    if report.intact else f"Audit log check failed: event "
                    f"{report.first_bad_id}: {report.problem} (see docs/security.md)"))
        if not self.preload_first:
            self._import_preload()

    def _import_preload(self) -> None:
        """Import `preload`; a module that cannot be imported is left to the GUI thread's
        import, which says why as before, and never keeps the log from opening."""
        for module in self.preload:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)

