"""The window's batch: scoring files and folders into the batch table (in a worker), cancelling,
and exporting the table as CSV or as the PDF report (written in a worker)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog

from pneumo_desktop.gui.batch.batch_workers import BatchScorer, ReportWriter
from pneumo_desktop.gui.batch.report import ReportData

if TYPE_CHECKING:
    from pneumo_desktop.gui.window.main_window import MainWindow
    from pneumo_desktop.model.inference import Predictor, ScoredFile


class BatchController(QObject):
    """One batch or one report at a time; a batch asked for while the model loads waits for it."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.worker: BatchScorer | None = None
        self.report: ReportWriter | None = None
        self.predictor: Predictor | None = None  # the model that scored the table
        self.pending: list[Path] | None = None  # waiting for the model

    @property
    def running(self) -> bool:
        return self.worker is not None

    # -- scoring -------------------------------------------------------------------------------
    def score_paths(self, paths: list[str | Path]) -> bool:
        """Score files and folders; False when it cannot start now (see the status bar)."""
        window = self.window
        models = window.models
        paths = [Path(p) for p in paths]
        if self.worker is not None:
            window.warn("Batch already running",
                        "Wait for the current batch to finish, or cancel it (Esc).")
            return False
        if models.predictor is None:
            if models.is_loading:
                self.pending = paths
                window.statusBar().showMessage("The batch starts when the model is ready…")
                return True
            window.warn("No model", "No model is loaded, so nothing can be scored. "
                                    "Choose one in Model → Models… (Ctrl+M).")
            return False
        folder = paths[0] if len(paths) == 1 and paths[0].is_dir() else paths[0].parent
        window.settings.last_batch_dir = str(folder)
        window.batch_model.start(models.predictor.bundle.name, models.threshold, paths,
                                 learned=models.predictor.has_learned_check)
        window.batch_panel.begin(0)
        window.batch_dock.show()
        self.predictor = models.predictor
        worker = BatchScorer(models.predictor, paths)
        worker.counted.connect(self._counted)
        worker.rows.connect(self._rows)
        worker.progress.connect(self._progress)
        worker.done.connect(self._done)
        worker.crashed.connect(self._crashed)
        self.worker = worker
        window.update_actions()
        window.statusBar().showMessage("Scoring…")
        window.pool.start(worker, "batch-scorer")
        return True

    def start_pending(self) -> None:
        """The model is ready: score the batch that waited for it."""
        if self.pending is not None:
            paths, self.pending = self.pending, None
            self.score_paths(paths)

    def drop_pending(self) -> None:
        """No model could be loaded: the waiting batch is not scored."""
        if self.pending is not None:
            self.pending = None
            self.window.statusBar().showMessage("The batch was not scored: no model", 8000)

    def cancel(self) -> None:
        """Stop the running batch after the images being scored; rows so far are kept."""
        if self.worker is not None:
            self.worker.cancel()
            self.window.batch_panel.rate_label.setText("Cancelling…")
            self.window.batch_panel.cancel_button.setEnabled(False)
        elif self.report is not None:
            self.report.cancel()

    @Slot(int)
    def _counted(self, total: int) -> None:
        self.window.batch_panel.begin(total)

    @Slot(object)
    def _rows(self, items: list[ScoredFile]) -> None:
        self.window.batch_model.add(items)
        for item in items:
            if item.prediction is not None:
                self.window.imageScored.emit(str(item.path), item.prediction.probability)

    @Slot(int, int, float)
    def _progress(self, done: int, total: int, seconds: float) -> None:
        self.window.batch_panel.set_progress(done, total, seconds)

    @Slot(str)
    def _crashed(self, message: str) -> None:
        self.window.warn("Batch stopped", message)

    @Slot(int, int, bool)
    def _done(self, scored: int, failed: int, cancelled: bool) -> None:
        window, table = self.window, self.window.batch_model
        self.worker = None
        window.batch_panel.finish(cancelled)
        window.update_actions()
        if scored + failed == 0 and not cancelled:
            text = "No images found to score"
        else:  # from the table: a row may have been scored anyway meanwhile
            shown, _, not_shown = table.counts()
            refused = table.refused_count()
            text = (f"{'Cancelled: ' if cancelled else ''}{shown} scored, "
                    f"{refused} not scored (not a frontal chest X-ray), "
                    f"{not_shown - refused} could not be read")
        window.statusBar().showMessage(text, 10000)
        window.batchFinished.emit(scored, failed)

    # -- export --------------------------------------------------------------------------------
    def _default_export(self, suffix: str) -> str:
        root = self.window.batch_model.root
        stem = f"{root.name}_" if root is not None else ""
        folder = self.window.settings.last_export_dir or (str(root) if root else str(Path.home()))
        return str(Path(folder) / f"{stem}pneumo_scores{suffix}")

    def export_csv(self, path: str | Path | None = None) -> bool:
        """Write the batch table as CSV (the CLI's columns); asks for a file when no path."""
        window = self.window
        if window.batch_model.rowCount() == 0:
            window.statusBar().showMessage("Nothing to export yet: score a folder first", 5000)
            return False
        if not path:
            path, _ = QFileDialog.getSaveFileName(window, "Export CSV",
                                                  self._default_export(".csv"),
                                                  "CSV files (*.csv)")
            if not path:
                return False
        from pneumo_desktop.model.scoring import write_csv

        try:
            write_csv(path, window.batch_model.csv_rows())
        except OSError as exc:
            window.warn("Export failed", f"The CSV could not be written: {exc}")
            return False
        window.settings.last_export_dir = str(Path(path).parent)
        window.statusBar().showMessage(f"Saved {path}", 6000)
        return True

    def export_pdf(self, path: str | Path | None = None) -> bool:
        """Write the PDF report in a worker; `reportWritten(path)` or `reportFailed` follows."""
        window, table = self.window, self.window.batch_model
        if table.rowCount() == 0:
            window.statusBar().showMessage("Nothing to report yet: score a folder first", 5000)
            return False
        if self.report is not None or self.worker is not None:
            window.statusBar().showMessage("Wait for the running batch or report to finish",
                                           5000)
            return False
        if not path:
            path, _ = QFileDialog.getSaveFileName(window, "Save PDF report",
                                                  self._default_export(".pdf"),
                                                  "PDF files (*.pdf)")
            if not path:
                return False
        predictor = self.predictor
        card = predictor.bundle.card if predictor else None
        data = ReportData(items=table.items(), model_name=table.model_name,
                          threshold=table.threshold, card=card,
                          opacity=window.viewer.heatmap_opacity, source=str(table.root or ""))
        worker = ReportWriter(path, data, predictor)
        worker.progress.connect(self._report_progress)
        worker.written.connect(self._report_written)
        worker.failed.connect(self._report_failed)
        self.report = worker
        window.settings.last_export_dir = str(Path(path).parent)
        window.statusBar().showMessage("Writing the PDF report…")
        window.update_actions()
        window.pool.start(worker, "report-writer")
        return True

    @Slot(int, int)
    def _report_progress(self, done: int, total: int) -> None:
        self.window.statusBar().showMessage(f"Writing the PDF report: study {done} of {total}…")

    @Slot(str)
    def _report_written(self, path: str) -> None:
        self.report = None
        self.window.update_actions()
        self.window.statusBar().showMessage(f"Saved {path}", 8000)
        self.window.reportWritten.emit(path)

    @Slot(str)
    def _report_failed(self, message: str) -> None:
        self.report = None
        self.window.update_actions()
        self.window.warn("Report not written", message)
        self.window.reportFailed.emit(message)

    def shutdown(self) -> None:
        """Cancel the running batch and report (the window waits for their threads)."""
        if self.worker is not None:
            self.worker.cancel()
        if self.report is not None:
            self.report.cancel()
