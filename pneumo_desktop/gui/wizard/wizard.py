"""The local training wizard: data → what to do → training (or checking) → evaluation → save.

At the model step the clinic chooses to check and recalibrate the active model on its images
(no training: `training.local_calibration` in the compute process), to fine-tune it (cross-fitting,
`training.fine_tuning`), or to train a new model; every path ends in the evaluation and save pages.

It drives the core (`training.train`) from worker threads and has no training code of its own.
Open it from the main window::

    wizard = TrainingWizard(self, active_model=active_bundle_path)
    wizard.modelSaved.connect(on_model_saved)  # (bundle path, make it active now?)
    wizard.open()
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget, QWizard

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.wizard.data_page import DataPage
from pneumo_desktop.gui.wizard.evaluation_page import EvaluationPage
from pneumo_desktop.gui.wizard.model_page import ModelPage
from pneumo_desktop.gui.wizard.save_page import SavePage
from pneumo_desktop.gui.wizard.training_page import TrainingPage
from pneumo_desktop.gui.wizard.training_worker import (
    FolderCheck,
    FolderChecker,
    ModelSaver,
    SpeedEstimate,
    SpeedProbe,
    TrainingOutcome,
    TrainingWorker,
    card_with_threshold,
)
from pneumo_desktop.gui.workers import ThreadPool
from pneumo_desktop.model.bundle import ModelCard, read_bundle, user_models_dir
from pneumo_desktop.training.config import TrainConfig


class TrainingWizard(QWizard):
    """Train or fine-tune a model on a local folder of labelled X-rays, evaluate it against the
    active model on the same validation split, and save it as a bundle in `models_dir`.

    Its pages (one module each) see it through `owner.WizardOwner`; the jobs run in the
    workers of `training_worker`.

    `modelSaved(path, make_active)` is emitted once the bundle is written and verified.
    """

    modelSaved = Signal(str, bool)
    dataChecked = Signal(bool)  # the folder check ended: usable or not
    estimateReady = Signal(float)  # estimated training duration in seconds
    trainingEnded = Signal(str)  # "finished", "stopped", "cancelled" or "failed"

    DATA, MODEL, TRAINING, EVALUATION, SAVE = range(5)

    def __init__(self, parent: QWidget | None = None, active_model: Path | None = None,
                 models_dir: Path | None = None):
        super().__init__(parent)
        self.setObjectName("trainingWizard")
        self.setWindowTitle("Train a model on your own images")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.resize(1080, 780)
        self.models_dir = Path(models_dir) if models_dir else user_models_dir()
        self.active_model = Path(active_model) if active_model else None
        self.active_card: ModelCard | None = None
        self.active_error: str | None = None
        if self.active_model is not None:
            try:  # the card only; the weights are checked when training reads the bundle
                self.active_card = read_bundle(self.active_model, verify=False).card
            except PneumoError as exc:
                self.active_error = str(exc)
                self.active_model = None

        self.pool = ThreadPool(self)
        self.gate = threading.Lock()  # speed test and training never run at once
        self.outcome: TrainingOutcome | None = None
        self.training_worker: TrainingWorker | None = None
        self.training_running = False
        self.error_box: QMessageBox | None = None
        self._check_request = 0
        self._checker: FolderChecker | None = None
        self._probe_request = 0
        self._probe: SpeedProbe | None = None
        self._ending = ""
        self._ending_detail = ""
        self._pending_start = False
        self._closing_result: int | None = None
        self._make_active = False

        self.data_page = DataPage(self)
        self.model_page = ModelPage(self)
        self.training_page = TrainingPage(self)
        self.evaluation_page = EvaluationPage(self)
        self.save_page = SavePage(self)
        for page_id, page in ((self.DATA, self.data_page), (self.MODEL, self.model_page),
                              (self.TRAINING, self.training_page),
                              (self.EVALUATION, self.evaluation_page),
                              (self.SAVE, self.save_page)):
            self.setPage(page_id, page)
        self.setStartId(self.DATA)

    # -- public API (also used by the tests) ---------------------------------------------------
    def set_data_folder(self, path: str | Path) -> None:
        """Use `path` as the training folder (checked in a worker; see `dataChecked`)."""
        self.data_page.set_folder(path)

    def config(self) -> TrainConfig:
        """The training configuration the pages describe (split as the data page shows it)."""
        check = self.data_page.check
        split = ({"seed": check.config.seed, "limit": check.config.limit} if check else
                 self.data_page.split_options())
        return self.model_page.config(**split)

    def start_training(self) -> bool:
        """Start training with the current settings; False when it cannot start now."""
        check = self.data_page.check
        if check is None:
            return False
        if self.training_running:
            self._pending_start = True
            return False
        self.cancel_speed_test()
        config = self.config()
        mode = self.model_page.mode
        worker = TrainingWorker(check.folder, config, "model", self.active_model, self.gate,
                                task="calibrate" if mode == "calibrate" else "train")
        page = self.training_page
        worker.stage.connect(page.on_stage)
        worker.message.connect(page.on_message)
        worker.runStarted.connect(page.on_run)
        worker.cacheProgress.connect(page.on_cache_progress)
        worker.batch.connect(page.on_batch)
        worker.epoch.connect(page.on_epoch)
        worker.succeeded.connect(self._training_succeeded)
        worker.cancelled.connect(self._training_cancelled)
        worker.failed.connect(self._training_failed)
        worker.finished.connect(self._training_worker_finished)
        self.outcome = None
        self._ending, self._ending_detail = "failed", "the training ended unexpectedly"
        self.training_worker, self.training_running = worker, True
        page.begin(config, mode)
        self.model_page.setCommitPage(True)  # no Back while training runs
        page.completeChanged.emit()
        # Let the page appear and draw its empty plots before the CPU gets busy (at most 1 s).
        self._start_when_drawn(worker, time.monotonic() + 1.0)
        return True

    def _start_when_drawn(self, worker: TrainingWorker, deadline: float) -> None:
        if worker is not self.training_worker:
            return
        if worker.cancel_flag.is_set():
            worker.cancelled.emit()
            worker.finished.emit()
            return
        if self.training_page.plots.drawn or time.monotonic() > deadline:
            self.pool.start(worker, "training")
        else:
            QTimer.singleShot(20, lambda: self._start_when_drawn(worker, deadline))

    def request_stop(self) -> None:
        """Stop training after the current batch and keep the best model so far."""
        if self.training_running and self.training_worker is not None:
            self.training_worker.request_stop()
            self.training_page.on_stopping()

    def request_cancel(self) -> None:
        """Cancel training; nothing is kept."""
        if self.training_running and self.training_worker is not None:
            self.training_worker.request_cancel()
            self.training_page.on_cancelling()

    def save_model(self, name: str, make_active: bool) -> None:
        """Write the trained model to `models_dir/name` (threshold from the evaluation page);
        emits `modelSaved` and closes the wizard when done."""
        if self.outcome is None or self.save_page.saving:
            return
        result = self.outcome.result
        evaluation = self.evaluation_page
        card = copy.deepcopy(card_with_threshold(result.card, result.val_labels,
                                                 result.val_scores, evaluation.threshold))
        card.name = name.strip()
        saver = ModelSaver(dataclasses.replace(result, card=card), self.models_dir / card.name)
        self._make_active = make_active
        saver.saved.connect(self._saved)  # a bound method: runs in the GUI thread
        saver.failed.connect(self._save_failed)
        self.save_page.set_saving(True, f"Saving to {self.models_dir / card.name}…")
        self.pool.start(saver, "save")

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel every background job and wait for it (blocking); True when all ended."""
        self._cancel_workers()
        return self.pool.wait_all(timeout_ms)

    # Slots receiving worker signals are @Slot methods of this GUI-thread object, so Qt queues
    # them to the GUI thread (PySide runs lambdas and late-bound functions in the emitting one).

    # -- folder check --------------------------------------------------------------------------
    def check_folder(self, folder: Path, config: TrainConfig) -> None:
        if self._checker is not None:
            self._checker.cancel()
        self._check_request += 1
        checker = FolderChecker(self._check_request, folder, config)
        checker.progress.connect(self._check_progress)
        checker.checked.connect(self._checked)
        checker.failed.connect(self._check_failed)
        self._checker = checker
        self.pool.start(checker, "folder-check")

    @Slot(int, int, int)
    def _check_progress(self, request: int, done: int, total: int) -> None:
        if request == self._check_request:
            self.data_page.show_progress(done, total)

    @Slot(int, object)
    def _checked(self, request: int, check: FolderCheck) -> None:
        if request == self._check_request:
            self.data_page.show_check(check)
            self.dataChecked.emit(True)

    @Slot(int, str)
    def _check_failed(self, request: int, message: str) -> None:
        if request == self._check_request:
            self.data_page.show_error(message)
            self.dataChecked.emit(False)

    # -- speed test ----------------------------------------------------------------------------
    def measure_speed(self, architecture: str, image_size: int, batch_size: int) -> None:
        """Time a few training steps (in a worker) for the duration estimate."""
        if self.training_running:
            return
        self.cancel_speed_test()
        self._probe_request += 1
        probe = SpeedProbe(self._probe_request, architecture, image_size, batch_size, self.gate)
        probe.measured.connect(self._measured)
        probe.failed.connect(self._measure_failed)
        self._probe = probe
        self.pool.start(probe, "speed-test")

    def cancel_speed_test(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None

    @Slot(int, object)
    def _measured(self, request: int, estimate: SpeedEstimate) -> None:
        self.model_page.add_estimate(estimate)
        if request == self._probe_request:
            seconds = self.model_page.estimated_seconds()
            if seconds is not None:
                self.estimateReady.emit(seconds)

    @Slot(int, str)
    def _measure_failed(self, request: int, message: str) -> None:
        if request == self._probe_request:
            self.model_page.show_estimate_error(message)

    # -- training ------------------------------------------------------------------------------
    @Slot(object)
    def _training_succeeded(self, outcome: TrainingOutcome) -> None:
        self.outcome = outcome
        self._ending = "stopped" if outcome.result.stopped_early else "finished"

    @Slot()
    def _training_cancelled(self) -> None:
        self._ending = "cancelled"

    @Slot(str)
    def _training_failed(self, message: str) -> None:
        self._ending, self._ending_detail = "failed", message

    @Slot()
    def _training_worker_finished(self) -> None:
        self.training_running = False
        self.model_page.setCommitPage(False)
        self.training_page.on_ended(self._ending, self._ending_detail)
        if self._ending == "failed":
            self._show_error("Training failed",
                             "Training stopped because of an error. Nothing was saved, and your "
                             "existing models are unchanged.", self._ending_detail)
        self.trainingEnded.emit(self._ending)
        if self._closing_result is not None:
            return
        if self._pending_start:
            self._pending_start = False
            self.start_training()

    # -- saving --------------------------------------------------------------------------------
    @Slot(str)
    def _saved(self, path: str) -> None:
        self.save_page.saved_path = path
        self.save_page.set_saving(False, f"Saved to {path}.")
        self.modelSaved.emit(path, self._make_active)
        self.accept()

    @Slot(str)
    def _save_failed(self, message: str) -> None:
        self.save_page.set_saving(False, f"The model could not be saved: {message}", error=True)
        self._show_error("The model could not be saved",
                         "Nothing was changed: any model already saved is intact. Fix the "
                         "cause (disk space, permissions) and click Save again.", message)

    # -- dialogs and closing -------------------------------------------------------------------
    def _show_error(self, title: str, text: str, detail: str) -> None:
        """A window-modal message that does not block the event loop (kept in `error_box`)."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok,
                          self)
        box.setObjectName("trainingErrorBox")
        box.setInformativeText(f"Cause: {detail}")
        self.error_box = box
        box.open()

    def _ask(self, title: str, text: str, on_yes: Callable[[], None]) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, title, text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("confirmCloseBox")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.finished.connect(lambda code: on_yes() if code == QMessageBox.StandardButton.Yes
                             else None)
        box.open()

    def reject(self) -> None:
        """Cancel / Escape / close: confirm before throwing away a running or unsaved training."""
        if self._closing_result is not None:
            return
        if self.training_running:
            self._ask("Cancel training?", "Training is still running. Cancel it and close? "
                      "Nothing will be saved.", lambda: self.done(QWizard.DialogCode.Rejected))
        elif self.outcome is not None and not self.save_page.saved_path:
            self._ask("Close without saving?", "The trained model has not been saved. Close "
                      "and discard it?", lambda: self.done(QWizard.DialogCode.Rejected))
        else:
            self.done(QWizard.DialogCode.Rejected)

    @property
    def busy(self) -> bool:
        """A background job (or a training about to start) is still running."""
        return self.pool.busy or self.training_running

    def done(self, result: int) -> None:
        """Close once every background job has ended (running jobs are cancelled first)."""
        if not self.busy:
            super().done(int(result))
            return
        self._closing_result = int(result)
        self._cancel_workers()
        self.setEnabled(False)
        QTimer.singleShot(50, self._close_when_idle)

    def _close_when_idle(self) -> None:
        if self.busy:
            QTimer.singleShot(50, self._close_when_idle)
            return
        self.setEnabled(True)
        result, self._closing_result = self._closing_result, None
        super().done(result if result is not None else int(QWizard.DialogCode.Rejected))

    def _cancel_workers(self) -> None:
        self.cancel_speed_test()
        if self._checker is not None:
            self._checker.cancel()
        if self.training_worker is not None and self.training_running:
            self.training_worker.request_cancel()
