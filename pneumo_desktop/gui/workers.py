"""Background work for the GUI: QObject workers moved to their own QThreads.

The model runs in the compute process (`compute.process`): these workers send it calls
and wait for the answers, so TensorFlow is never imported in the GUI's process. Every worker
emits `finished` last, from its own thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.imaging import heat_layer
from pneumo_desktop.imaging.image_io import XRayImage, load_xray

if TYPE_CHECKING:
    from pneumo_desktop.compute.remote_predictor import RemotePredictor
    from pneumo_desktop.model.inference import Prediction, Predictor, ScoredFile

    AnyPredictor = Predictor | RemotePredictor  # in-process (CLI, tests) or compute process


@dataclass
class ImageResult:
    """One study opened in the viewer: the full-resolution image and, once scored, its result.

    A prediction with a `refusal` (the input check objected) is withheld from the screen until
    the user chooses "Score anyway" (`forced`); its score and heat map are computed either way.
    """

    request: int
    path: Path
    image: XRayImage
    prediction: Prediction | None = None
    heat: np.ndarray | None = None  # RGBA heat-map layer (see imaging.heat_layer)
    forced: bool = False  # the user chose "Score anyway" for a refused study

    @property
    def withheld(self) -> bool:
        """Scored, refused by the input check, and not (yet) shown anyway."""
        return (self.prediction is not None and self.prediction.refusal is not None
                and not self.forced)


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


class ModelLoader(Worker):
    """Loads a bundle in the compute process (which owns TensorFlow: nothing here imports it)
    and emits a `RemotePredictor` for it.

    When `path` does not exist and `fallback_dirs` are given, the first usable bundle found
    there is loaded instead (a fresh install without the shipped model still starts).
    """

    loaded = Signal(int, object, str)  # request, RemotePredictor, device description
    failed = Signal(int, str, str)  # request, bundle path, message

    def __init__(self, request: int, path: str | Path, *, batch_size: int = 16,
                 threshold: float | None = None, fallback_dirs: list[Path] | None = None):
        super().__init__()
        self.request = request
        self.path = Path(path)
        self.batch_size = batch_size
        self.threshold = threshold
        self.fallback_dirs = fallback_dirs

    def work(self) -> None:
        from pneumo_desktop.compute.process import shared_process
        from pneumo_desktop.compute.remote_predictor import load_remote

        try:
            predictor = load_remote(shared_process(), self.path, batch_size=self.batch_size,
                                    threshold=self.threshold, fallback_dirs=self.fallback_dirs)
        except PneumoError as exc:
            self.failed.emit(self.request, str(self.path), str(exc))
        except Exception as exc:  # a broken install or model must not take the app down
            self.failed.emit(self.request, str(self.path),
                             f"{self.path.name}: the model cannot be loaded "
                             f"({type(exc).__name__}: {exc})")
        else:
            self.loaded.emit(self.request, predictor, predictor.device)


class AuditLogOpener(Worker):
    """Opens the audit log (its integrity check grows with the log: 0.3 s at 200 000 events)
    off the GUI thread and emits it, or why it cannot be opened."""

    opened = Signal(object)  # AuditLog
    failed = Signal(str)
    verified = Signal(bool, str)  # hash chain intact, what to say (after `opened`)

    def __init__(self, path: str | Path | None = None):
        super().__init__()
        self.path = path

    def work(self) -> None:
        import sqlite3

        from pneumo_desktop.intake.audit_log import AuditLog

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


def score_image(predictor: AnyPredictor, path: Path, image: XRayImage) -> Prediction:
    """Score a study exactly as batch scoring does, so the viewer and the table agree (the
    input check's verdict included, in `Prediction.refusal`)."""
    return predictor.score_path(path, image=image)[1]


class ImageScorer(Worker):
    """Decodes a study at full resolution and, given a model, scores it with a heat map (also
    when the input check refuses it: the GUI decides what to show)."""

    scored = Signal(object)  # ImageResult
    failed = Signal(int, str, str)  # request, path, message

    def __init__(self, request: int, path: str | Path, predictor: AnyPredictor | None, *,
                 include_patient: bool = False, image: XRayImage | None = None):
        super().__init__()
        self.request = request
        self.path = Path(path)
        self.predictor = predictor
        self.include_patient = include_patient
        self.image = image

    def work(self) -> None:
        try:
            image = self.image or load_xray(self.path, include_patient=self.include_patient)
            result = ImageResult(self.request, self.path, image)
            if self.predictor is not None:
                result.prediction = score_image(self.predictor, self.path, image)
                result.heat = heat_layer(result.prediction.heatmap)
        except PneumoError as exc:
            self.failed.emit(self.request, str(self.path), str(exc))
        except Exception as exc:
            self.failed.emit(self.request, str(self.path),
                             f"{self.path.name}: cannot be scored ({type(exc).__name__}: {exc})")
        else:
            self.scored.emit(result)


class BatchScorer(CancellableWorker):
    """Scores files and folders with the core's batched `Predictor.score_files`.

    Results arrive in groups (`rows`) at most every `emit_interval` seconds so that the GUI
    thread stays free; `cancel()` (any thread) stops after the batch being scored.
    """

    counted = Signal(int)  # number of files found
    rows = Signal(object)  # list[ScoredFile]
    progress = Signal(int, int, float)  # done, total, seconds elapsed
    done = Signal(int, int, bool)  # scored, failed, cancelled
    crashed = Signal(str)

    def __init__(self, predictor: AnyPredictor, inputs: list[str | Path], *,
                 emit_interval: float = 0.1):
        super().__init__()
        self.predictor = predictor
        self.inputs = [Path(p) for p in inputs]
        self.emit_interval = emit_interval

    def work(self) -> None:
        from pneumo_desktop.imaging.discovery import collect_inputs

        scored = failed = 0
        try:
            paths = collect_inputs(self.inputs)
            self.counted.emit(len(paths))
            started = last = time.perf_counter()
            buffer: list[ScoredFile] = []
            results = self.predictor.score_files(paths, cancelled=self._cancel.is_set)
            for done, item in enumerate(results, start=1):
                buffer.append(item)
                if item.prediction is not None:
                    scored += 1
                else:
                    failed += 1
                now = time.perf_counter()
                if now - last >= self.emit_interval or done == len(paths):
                    self.rows.emit(buffer)
                    self.progress.emit(done, len(paths), now - started)
                    buffer, last = [], now
            if buffer:
                self.rows.emit(buffer)
                self.progress.emit(scored + failed, len(paths), time.perf_counter() - started)
        except Exception as exc:  # keep the rows so far; say what stopped the rest
            self.crashed.emit(f"Batch scoring stopped: {type(exc).__name__}: {exc}")
        self.done.emit(scored, failed, self.cancelled)


class ReportWriter(CancellableWorker):
    """Writes the PDF report (heat maps of flagged studies are computed here, off the GUI)."""

    progress = Signal(int, int)
    written = Signal(str)
    failed = Signal(str)

    def __init__(self, path: str | Path, data: Any, predictor: AnyPredictor | None):
        super().__init__()
        self.path = Path(path)
        self.data = data
        self.predictor = predictor
    def work(self) -> None:
        from pneumo_desktop.gui.report import write_report

        try:
            write_report(self.path, self.data, self.predictor,
                         progress=lambda done, total: self.progress.emit(done, total),
                         cancelled=self._cancel.is_set)
        except PneumoError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            self.failed.emit(f"The report could not be written: {type(exc).__name__}: {exc}")
        else:
            self.written.emit(str(self.path))


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
