"""Background work for the GUI: QObject workers moved to their own QThreads.

The model runs in the compute process (`compute.process`): workers send it calls and wait for
the answers, so TensorFlow is never imported in the GUI's process. Every worker emits
`finished` last, from its own thread. The workers themselves live next to what they serve:
`viewer.image_scorer`, `batch.batch_workers`, `window.model_loader`, `intake.audit_opener`,
`wizard.training_worker`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

if TYPE_CHECKING:
    from pneumo_desktop.training.config import TrainingResult


class Worker(QObject):
    """Base worker: `run()` (slot, in the worker thread) calls `work()`, then emits `finished`."""

    finished = Signal()

    @Slot()
    def run(self) -> None:
        try:
            self.work()
        finally:
            self.finished.emit()

    def work(self) -> None:
        raise NotImplementedError


class CancellableWorker(Worker):
    """A worker whose `cancel()` (any thread) sets a flag that `work()` polls."""

    def __init__(self) -> None:
        super().__init__()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


class ThreadPool(QObject):
    """Runs each worker in its own QThread and keeps both alive until the thread ends."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._jobs: list[tuple[QThread, Worker]] = []

    def start(self, worker: Worker, name: str = "worker") -> QThread:
        thread = QThread()
        thread.setObjectName(name)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Direct: quit from the worker thread itself, so wait() never needs the GUI loop.
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._reap)
        self._jobs.append((thread, worker))
        thread.start()
        return thread

    @property
    def busy(self) -> bool:
        return any(not thread.isFinished() for thread, _ in self._jobs)

    def workers(self) -> list[Worker]:
        return [worker for thread, worker in self._jobs if not thread.isFinished()]

    @Slot()
    def _reap(self) -> None:
        self._jobs = [(thread, worker) for thread, worker in self._jobs
                      if not thread.isFinished()]

    def wait_all(self, timeout_ms: int = 30000) -> bool:
        """Block until every thread has ended (cancel long jobs first); True when all did."""
        deadline = time.perf_counter() + timeout_ms / 1000
        ok = True
        for thread, _ in list(self._jobs):
            left = max(0, int((deadline - time.perf_counter()) * 1000))
            ok = thread.wait(left) and ok
        self._reap()
        return ok


class ModelSaver(Worker):
    """Writes the bundle in the compute process (core `save_result`: atomic) and reads it back
    to verify it."""

    saved = Signal(str)  # bundle folder
    failed = Signal(str)

    def __init__(self, result: TrainingResult, folder: Path, process=None):
        super().__init__()
        self.result = result
        self.folder = Path(folder)
        if process is None:
            from pneumo_desktop.compute.process import shared_process

            process = shared_process()
        self.process = process

    def work(self) -> None:
        try:
            path = self.process.call("save_result", self.result, str(self.folder)).result()
        except Exception as exc:
            from pneumo_desktop.training.session import error_text

            self.failed.emit(error_text(exc))
        else:
            self.saved.emit(path)
