"""The batch's background work: scoring files and folders (`BatchScorer`) and writing the PDF
report (`ReportWriter`), each in a worker thread; the model runs in the compute process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.batch.report import write_report
from pneumo_desktop.gui.workers import CancellableWorker

if TYPE_CHECKING:
    from pneumo_desktop.compute.remote_predictor import RemotePredictor
    from pneumo_desktop.model.inference import Predictor, ScoredFile

    AnyPredictor = Predictor | RemotePredictor  # in-process (CLI, tests) or compute process


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

