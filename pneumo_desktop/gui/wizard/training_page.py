"""Step 3 of the training wizard: live progress and curves, Stop (keep the best epoch) and
Cancel; for a check of the active model, the scoring progress.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from pneumo_desktop.gui.wizard.owner import WizardOwner
from pneumo_desktop.gui.wizard.plots import TRAIN_COLOR, VAL_COLOR, TrainingPlots
from pneumo_desktop.gui.wizard.widgets import (
    ERROR_STYLE,
    OK_STYLE,
    duration_text,
    grouped,
)
from pneumo_desktop.training.config import (
    BatchProgress,
    EpochProgress,
    TrainConfig,
    epoch_summary,
)


class TrainingPage(QWizardPage):
    """Live progress, curves, Stop and Cancel. Training (or the check of the active model)
    starts when the page is shown."""

    TRAINING_SUBTITLE = ("Watch the validation curve (orange): it measures images the model "
                         "does not learn from. You can stop at any time and keep the best model.")

    def __init__(self, owner: WizardOwner):
        super().__init__()
        self.owner = owner
        self.setObjectName("trainingPage")
        self.setTitle("Step 3 of 5 — Training")
        self.setSubTitle(self.TRAINING_SUBTITLE)
        self.mode = "scratch"
        self.setButtonText(QWizard.WizardButton.NextButton, "Evaluate >")
        self.epochs = 1
        self.best: EpochProgress | None = None
        self.last_epoch: EpochProgress | None = None
        self.stopping = False

        layout = QVBoxLayout(self)
        self.status = QLabel("")
        self.status.setObjectName("trainingStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("font-weight:600;")
        layout.addWidget(self.status)
        self.run_label = QLabel("")
        self.run_label.setObjectName("runLabel")
        self.run_label.setWordWrap(True)
        self.run_label.setVisible(False)
        layout.addWidget(self.run_label)
        bar_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setObjectName("trainingProgress")
        self.rate = QLabel("")
        self.rate.setObjectName("rateLabel")
        self.rate.setMinimumWidth(300)
        bar_row.addWidget(self.progress, 1)
        bar_row.addWidget(self.rate)
        layout.addLayout(bar_row)
        legend = QLabel(
            f"<span style='color:{TRAIN_COLOR}'>━●━ <b>Training images</b></span> (learned "
            "from; faint line: during the epoch) &nbsp;&nbsp; "
            f"<span style='color:{VAL_COLOR}'>━■━ <b>Validation images</b></span> (held "
            "back: the honest measure) &nbsp;&nbsp; ★ best epoch (kept)")
        legend.setObjectName("plotLegend")
        legend.setWordWrap(True)
        layout.addWidget(legend)
        self.legend = legend
        self.plots = TrainingPlots()
        layout.addWidget(self.plots, 1)
        self.best_label = QLabel("")
        self.best_label.setObjectName("bestLabel")
        layout.addWidget(self.best_label)
        buttons = QHBoxLayout()
        self.stop_button = QPushButton("Stop and keep the best model")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Finish after the current batch; the best epoch so far is "
                                    "kept and you go on to evaluate it")
        self.stop_button.clicked.connect(owner.request_stop)
        self.cancel_button = QPushButton("Cancel training (discard)")
        self.cancel_button.setObjectName("cancelTrainingButton")
        self.cancel_button.setToolTip("Abandon this training; nothing is kept")
        self.cancel_button.clicked.connect(owner.request_cancel)
        self.retry_button = QPushButton("Train again")
        self.retry_button.setObjectName("retryButton")
        self.retry_button.setToolTip("Start a new training with the same settings")
        self.retry_button.clicked.connect(owner.start_training)
        for button in (self.stop_button, self.cancel_button, self.retry_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.log = QPlainTextEdit()
        self.log.setObjectName("trainingLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setFixedHeight(62)
        layout.addWidget(self.log)
        self.retry_button.setVisible(False)

    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        self.owner.start_training()

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return self.owner.outcome is not None and not self.owner.training_running

    def begin(self, config: TrainConfig, mode: str = "scratch") -> None:
        """Reset the page for a new run of `config` (`mode`: scratch, fine_tune, calibrate)."""
        self.mode = mode
        calibrating = mode == "calibrate"
        if calibrating:
            self.setTitle("Step 3 of 5 — Checking the active model on your images")
            self.setSubTitle("Each image is scored once; nothing is trained. The threshold "
                             "is then set for your hospital and checked by cross-validation.")
        else:
            self.setTitle("Step 3 of 5 — Training")
            self.setSubTitle(self.TRAINING_SUBTITLE)
        for widget in (self.plots, self.legend, self.best_label, self.stop_button):
            widget.setVisible(not calibrating)
        self.run_label.setText("")
        self.run_label.setVisible(False)
        self.epochs, self.best, self.last_epoch, self.stopping = config.epochs, None, None, False
        self.plots.reset(config.epochs)
        self.progress.setRange(0, 0)
        self.status.setStyleSheet("font-weight:600;")
        self.status.setText("Starting…")
        self.rate.setText("")
        self.best_label.setText("")
        self.log.clear()
        self.stop_button.setEnabled(True)
        self.cancel_button.setEnabled(True)
        self.retry_button.setVisible(False)

    # -- worker signals (queued to the GUI thread: these must stay @Slot methods) -------------
    @Slot(str)
    def on_stage(self, stage: str) -> None:
        texts = {"waiting": "Waiting for the speed test to finish…",
                 "preparing": "Preparing the images (each is read and resized once)…",
                 "training": "Building the model…",
                 "comparing": "Scoring the validation images with the active model, for "
                              "comparison…",
                 "scoring": "Scoring your images with the active model…"}
        self.status.setText(texts.get(stage, stage))
        if stage == "comparing":
            self.progress.setRange(0, 0)

    @Slot(str)
    def on_message(self, text: str) -> None:
        self.log.appendPlainText(text)

    @Slot(int, int, str, int)
    def on_run(self, run: int, runs: int, title: str, epochs: int) -> None:
        """Cross-fitting: model `run` of `runs` starts; its curves replace the last one's."""
        self.epochs, self.best, self.last_epoch = epochs, None, None
        self.plots.reset(epochs)
        self.best_label.setText("")
        self.run_label.setText(f"<b>Model {run} of {runs}</b> — {html.escape(title)}")
        self.run_label.setVisible(True)

    @Slot(int, int)
    def on_cache_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.rate.setText(f"{grouped(done)} / {grouped(total)} images")

    @Slot(object)
    def on_batch(self, p: BatchProgress) -> None:
        self.plots.add_batch(p.epoch, p.batch, p.batches, p.loss, p.auc)
        self.progress.setRange(0, p.epochs * p.batches)
        self.progress.setValue((p.epoch - 1) * p.batches + p.batch)
        if not self.stopping:
            self.status.setText(f"Training: epoch {p.epoch} of {p.epochs}, batch {p.batch} of "
                                f"{p.batches}")
        if p.batch == p.batches:
            self.status.setText(f"Epoch {p.epoch} of {p.epochs}: checking the validation "
                                "images…")
        self.rate.setText(f"{p.images_per_second:.0f} images/s · "
                          f"{duration_text(p.eta_seconds)} left at most")

    @Slot(object)
    def on_epoch(self, p: EpochProgress) -> None:
        self.last_epoch = p
        self.plots.add_epoch(p.epoch, p.loss, p.val_loss, p.auc, p.val_auc, p.improved)
        if p.improved:
            self.best = p
        if self.best is not None:
            self.best_label.setText(epoch_summary(self.best, p))

    def on_stopping(self) -> None:
        self.stopping = True
        self.stop_button.setEnabled(False)
        self.status.setText("Stopping after this batch; the best model so far will be kept…")

    def on_cancelling(self) -> None:
        self.stop_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        self.status.setText("Cancelling…")

    def on_ended(self, outcome: str, detail: str = "") -> None:
        """`outcome`: finished, stopped, cancelled or failed."""
        self.stop_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if outcome in ("finished", "stopped") else 0)
        result = self.owner.outcome.result if self.owner.outcome else None
        if result is not None and self.mode == "calibrate":
            self.status.setStyleSheet("font-weight:600;" + OK_STYLE)
            self.status.setText(f"✔ Done: {self.owner.outcome.val_images} of your images scored "
                                "and the threshold set for your hospital. Click “Evaluate” to "
                                "see the figures.")
            self.rate.setText("")
        elif result is not None:
            epochs = result.card.training.get("epochs_run", 0)
            best = result.card.validation.get("best_epoch")
            how = "Stopped by you" if outcome == "stopped" else "Training finished"
            self.status.setStyleSheet("font-weight:600;" + OK_STYLE)
            self.status.setText(f"✔ {how} after {epochs} epoch(s). The best epoch ({best}) is "
                                "kept. Click “Evaluate” to see how well it does.")
            self.rate.setText("")
        elif outcome == "cancelled":
            self.status.setStyleSheet("font-weight:600;")
            self.status.setText("Training cancelled: nothing was kept. Use Back to change the "
                                "settings, or Train again.")
        else:
            self.status.setStyleSheet("font-weight:600;" + ERROR_STYLE)
            self.status.setText(f"Training failed: {detail}\nNothing was saved; your models are "
                                "unchanged.")
        self.retry_button.setVisible(result is None)
        self.completeChanged.emit()
