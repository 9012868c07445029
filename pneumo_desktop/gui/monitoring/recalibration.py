""""Recalibrate on my reads": the active model recalibrated in the compute process on the
studies the readers read (`compute.recalibration`), before and after on the same studies, and
nothing saved or switched until the user says so."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pneumo_desktop.compute.process import ComputeProcess, shared_process
from pneumo_desktop.gui.workers import CancellableWorker, ModelSaver

POLL_SECONDS = 0.2


def error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class RecalibrationWorker(CancellableWorker):
    """Calls `recalibrate_on_reads` in the compute process; Cancel is forwarded to it."""

    message = Signal(str)
    progress = Signal(int, int)
    done = Signal(object)  # compute.recalibration.RecalibrationOutcome
    failed = Signal(str)

    def __init__(self, audit_path: Path, model: Path, name: str,
                 process: ComputeProcess | None = None):
        super().__init__()
        self.audit_path, self.model, self.name = audit_path, model, name
        self.process = process or shared_process()

    def work(self) -> None:
        try:
            call = self.process.call("recalibrate_on_reads", str(self.audit_path),
                                     str(self.model), self.name)
            sent = False
            for kind, payload in call.events(idle=POLL_SECONDS):
                if self.cancelled and not sent:
                    call.signal("cancel")
                    sent = True
                if kind == "message":
                    self.message.emit(payload)
                elif kind == "progress":
                    self.progress.emit(*payload)
            outcome = call.result()
        except Exception as exc:  # shown in the dialog; the active model is unchanged
            self.failed.emit(error_text(exc))
        else:
            self.done.emit(outcome)


def new_model_folder(models_dir: Path, active: str) -> Path:
    """`<active>-local-<date>` in `models_dir`, numbered if taken."""
    stem = f"{active}-local-{datetime.now(UTC):%Y%m%d}"
    folder, n = models_dir / stem, 1
    while folder.exists():
        n += 1
        folder = models_dir / f"{stem}-{n}"
    return folder


def _rate(value: float, ci) -> str:
    return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


class RecalibrationDialog(QDialog):
    """Runs the recalibration, shows before / after, saves and asks to switch on request."""

    switchRequested = Signal(str)

    def __init__(self, audit_path: Path, model: Path, models_dir: Path, pool,
                 parent: QWidget | None = None, process: ComputeProcess | None = None):
        super().__init__(parent)
        self.setObjectName("recalibrationDialog")
        self.setWindowTitle("Recalibrate on my reads")
        self.audit_path, self.model, self.pool = Path(audit_path), Path(model), pool
        self.folder = new_model_folder(Path(models_dir), self.model.name)
        self.process = process
        self.outcome = None
        self.worker: RecalibrationWorker | None = None
        self.status = QLabel(f"Recalibrating {self.model.name} on the studies your readers "
                             "read…")
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.table = QTableWidget(3, 2)
        self.table.setObjectName("beforeAfter")
        self.table.setHorizontalHeaderLabels(["Active model as it is",
                                              "Recalibrated (cross-validated)"])
        self.table.setVerticalHeaderLabels(["Sensitivity", "Specificity", "Calibration error"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.hide()
        self.save_button = QPushButton("Save and use the recalibrated model")
        self.save_button.setObjectName("saveRecalibrated")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        self.close_button = QPushButton("Cancel")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.bar)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.resize(620, 300)

    def start(self) -> None:
        worker = RecalibrationWorker(self.audit_path, self.model, self.folder.name,
                                     self.process)
        worker.message.connect(self.status.setText)
        worker.progress.connect(self._progress)  # a slot of ours: queued to the GUI thread
        worker.done.connect(self.show_outcome)
        worker.failed.connect(self._failed)
        self.worker = worker
        self.pool.start(worker, "recalibrate-on-reads")

    @Slot(int, int)
    def _progress(self, done: int, total: int) -> None:
        self.bar.setMaximum(total)
        self.bar.setValue(done)

    @Slot(object)
    def show_outcome(self, outcome) -> None:
        self.outcome = outcome
        b, a = outcome.before, outcome.after
        cells = [(_rate(b["sensitivity"], b["sensitivity_ci95"]),
                  _rate(a["sensitivity"], a["sensitivity_ci95"])),
                 (_rate(b["specificity"], b["specificity_ci95"]),
                  _rate(a["specificity"], a["specificity_ci95"])),
                 (f"{b['ece']:.3f}", f"{a['ece']:.3f} (fitted on these studies)")]
        for row, pair in enumerate(cells):
            for column, text in enumerate(pair):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.table.show()
        self.bar.hide()
        local = outcome.result.card.local
        self.status.setText(
            f"On the same {local['n']} read studies ({local['n_pneumonia']} pneumonia, "
            f"{local['n_normal']} normal; {outcome.studies}). Before: {self.model.name} at its "
            f"threshold {b['threshold']:.3f}. After: threshold "
            f"{outcome.result.card.threshold:.3f}, figures cross-validated by patient. "
            "Nothing is saved until you choose to."
            + "".join(f"\nWarning: {w}" for w in local.get("warnings", [])))
        self.save_button.setEnabled(True)
        self.close_button.setText("Close without saving")

    @Slot(str)
    def _failed(self, message: str) -> None:
        self.bar.hide()
        self.status.setText(f"Not recalibrated: {message}")
        self.close_button.setText("Close")

    def save(self) -> None:
        self.save_button.setEnabled(False)
        self.status.setText(f"Saving {self.folder.name}…")
        worker = ModelSaver(self.outcome.result, self.folder, self.process)
        worker.saved.connect(self._saved)
        worker.failed.connect(self._failed)
        self.pool.start(worker, "save-recalibrated")

    @Slot(str)
    def _saved(self, path: str) -> None:
        self.status.setText(f"Saved {path}; it is now the active model.")
        self.switchRequested.emit(path)
        self.close_button.setText("Close")

    def reject(self) -> None:
        if self.worker is not None and self.outcome is None:
            self.worker.cancel()
        super().reject()
