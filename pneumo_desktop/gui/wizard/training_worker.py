"""Background work for the training wizard: folder check, speed warm-up, training and saving.

Each worker is a `gui.workers.Worker` run in its own QThread. The folder check decodes images
here (no TensorFlow); the speed warm-up, training and saving run in the compute process
(`compute.process`, tasks in `compute.tasks`), so TensorFlow never runs in the GUI's
process and its import cannot freeze the window. The wizard has no training code of its own.
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal

from pneumo_desktop.compute.process import ComputeProcess, RemoteCall, shared_process
from pneumo_desktop.evaluation import metrics
from pneumo_desktop.evaluation.datasets import DatasetScan, scan_dataset
from pneumo_desktop.gui.workers import CancellableWorker, ModelSaver, Worker  # noqa: F401
from pneumo_desktop.model.bundle import ModelCard
from pneumo_desktop.training import train as training
from pneumo_desktop.training.config import (
    PreparedData,
    TrainConfig,
    TrainingCallbacks,
    TrainingCancelled,
)
from pneumo_desktop.training.session import (  # noqa: F401  (the wizard's names)
    ActiveComparison,
    SpeedEstimate,
    TrainingOutcome,
    error_text,
)

CHECK_SIZE = 32  # the folder check decodes every image at this size (fast, reduced JPEG decode)
POLL_SECONDS = 0.1  # how often a waiting worker forwards Stop and Cancel to the compute process
CHOSEN_RULE = "chosen in the wizard"
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def model_name_problem(name: str, models_dir: Path) -> str | None:
    """Why `name` cannot be used as a new model folder in `models_dir`, or None."""
    if not name.strip():
        return "Enter a name for the model."
    if not _NAME_OK.match(name) or name != name.strip():
        return ("Use letters, digits, spaces, '.', '-' or '_' (up to 64 characters), starting "
                "with a letter or digit.")
    if (models_dir / name).exists():
        return f"A model named “{name}” already exists; choose another name."
    return None


# -- folder check ----------------------------------------------------------------------------
@dataclass
class FolderCheck:
    """The folder as training will see it."""

    folder: Path
    scan: DatasetScan  # every image in the folder (before any limit)
    data: PreparedData  # the images used, split by patient, each decoded once (at CHECK_SIZE)
    config: TrainConfig  # seed, limit and split fractions used


class _Abandoned(Exception):
    """Raised inside the core's progress callback to abandon an outdated check."""


class _CheckCallbacks(TrainingCallbacks):
    def __init__(self, worker: FolderChecker):
        self.worker = worker

    def on_cache_progress(self, done: int, total: int) -> None:
        if self.worker.cancelled:
            raise _Abandoned
        self.worker.progress.emit(self.worker.request, done, total)


class FolderChecker(CancellableWorker):
    """Scans a folder, splits it by patient as training will, and decodes every image once
    to list the skipped ones with their reasons: unreadable files and those the input check
    refuses (reasons starting "not scored: ", see `evaluation.datasets.build_cache`)."""

    progress = Signal(int, int, int)  # request, done, total
    checked = Signal(int, object)  # request, FolderCheck
    failed = Signal(int, str)  # request, message (a DatasetError's text, for instance)

    def __init__(self, request: int, folder: str | Path, config: TrainConfig):
        super().__init__()
        self.request = request
        self.folder = Path(folder)
        self.config = copy.deepcopy(config)

    def work(self) -> None:
        try:
            scan = scan_dataset(self.folder)
            check_config = training.replace_config(self.config, image_size=CHECK_SIZE)
            data = training.prepare_data(self.folder, check_config, _CheckCallbacks(self))
        except _Abandoned:
            return
        except Exception as exc:
            self.failed.emit(self.request, error_text(exc))
        else:
            self.checked.emit(self.request, FolderCheck(self.folder, scan, data, self.config))


# -- speed warm-up ---------------------------------------------------------------------------
class SpeedProbe(CancellableWorker):
    """Measures training speed for the duration estimate. Holds `gate` while measuring so that
    training (which takes the gate before starting) never competes with it for the device."""

    measured = Signal(int, object)  # request, SpeedEstimate
    failed = Signal(int, str)

    def __init__(self, request: int, architecture: str, image_size: int, batch_size: int,
                 gate: threading.Lock, process: ComputeProcess | None = None):
        super().__init__()
        self.request = request
        self.architecture, self.image_size, self.batch_size = architecture, image_size, batch_size
        self.gate = gate
        self.process = process or shared_process()

    def work(self) -> None:
        try:
            with self.gate:
                call = self.process.call("measure_speed", self.architecture, self.image_size,
                                         self.batch_size)
                forward_flags(call, lambda: {"cancel"} if self.cancelled else set())
                estimate = call.result()
        except Exception as exc:
            self.failed.emit(self.request, error_text(exc))
            return
        if estimate is not None:
            self.measured.emit(self.request, estimate)


def forward_flags(call: RemoteCall, flags, on_event=None) -> None:
    """Wait for `call`, passing each event to `on_event(kind, payload)` and forwarding the
    flags that `flags()` returns ("stop", "cancel") to the task as soon as they are set."""
    sent: set[str] = set()
    for kind, payload in call.events(idle=POLL_SECONDS):
        for flag in flags() - sent:
            call.signal(flag)
            sent.add(flag)
        if kind != "idle" and on_event is not None:
            on_event(kind, payload)


# -- training ----------------------------------------------------------------------------------
class TrainingWorker(Worker):
    """Runs `training.session.run_session` (prepare, train, compare with the active model)
    in the compute process, or with `task="calibrate"` the recalibration of the active model on
    the folder (no training). Ends with exactly one of `succeeded`, `cancelled` or `failed`; the
    new model stays in the compute process until `ModelSaver` writes it."""

    message = Signal(str)
    stage = Signal(str)  # "waiting", "preparing", "training", "comparing", "scoring"
    cacheProgress = Signal(int, int)
    batch = Signal(object)  # BatchProgress
    epoch = Signal(object)  # EpochProgress
    runStarted = Signal(int, int, str, int)  # run, runs, title, epochs (cross-fitting)
    succeeded = Signal(object)  # TrainingOutcome
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, folder: str | Path, config: TrainConfig, name: str,
                 active_model: Path | None, gate: threading.Lock | None = None,
                 process: ComputeProcess | None = None, task: str = "train"):
        super().__init__()
        self.task = task
        self.folder = Path(folder)
        self.config = copy.deepcopy(config)
        self.name = name
        self.active_model = active_model
        self.gate = gate or threading.Lock()
        self.process = process or shared_process()
        self.stop_flag = threading.Event()
        self.cancel_flag = threading.Event()

    def request_stop(self) -> None:
        """Finish after the current batch (and its epoch's validation); keep the best model."""
        self.stop_flag.set()

    def request_cancel(self) -> None:
        """Abandon training as soon as possible; nothing is kept."""
        self.cancel_flag.set()

    def _flags(self) -> set[str]:
        return ({"stop"} if self.stop_flag.is_set() else set()) | \
            ({"cancel"} if self.cancel_flag.is_set() else set())

    def _event(self, kind: str, payload) -> None:
        if kind == "message":
            self.message.emit(payload)
        elif kind == "stage":
            self.stage.emit(payload)
        elif kind == "cache":
            self.cacheProgress.emit(*payload)
        elif kind == "batch":
            self.batch.emit(payload)
        elif kind == "epoch":
            self.epoch.emit(payload)
        elif kind == "run":
            self.runStarted.emit(*payload)

    def work(self) -> None:
        try:
            self.stage.emit("waiting")
            with self.gate:  # let a running speed measurement end first
                pass
            if self.cancel_flag.is_set():
                raise TrainingCancelled("Training cancelled; nothing was saved")
            if self.task == "calibrate":
                call = self.process.call("calibrate", str(self.folder), str(self.active_model),
                                         self.config.target_sensitivity, 5, self.name)
            else:
                call = self.process.call("train", str(self.folder), self.config, self.name,
                                         str(self.active_model) if self.active_model else None)
            forward_flags(call, self._flags, self._event)
            outcome = call.result()
        except TrainingCancelled:
            self.cancelled.emit()
        except Exception as exc:  # shown to the user; the app and saved models are unaffected
            self.failed.emit(error_text(exc))
        else:
            self.succeeded.emit(outcome)


# -- saving ------------------------------------------------------------------------------------
def card_with_threshold(card: ModelCard, labels: np.ndarray, scores: np.ndarray,
                        threshold: float) -> ModelCard:
    """A copy of `card` whose operating point is `threshold` (validation figures recomputed);
    the card itself when the threshold is unchanged."""
    if threshold == card.threshold:
        return card
    from pneumo_desktop.training.local_calibration import rates_with_intervals

    new = copy.deepcopy(card)
    report = {k: v for k, v in metrics.report(labels, scores, threshold).items() if k != "roc"}
    new.threshold = float(threshold)
    split = card.validation.get("split", "validation (patient-level)") if card.validation \
        else "validation (patient-level)"
    if card.local:  # scores out of fold on every local study: figures at the chosen threshold
        split = "out-of-fold scores of all local studies"
        new.local = {**card.local, **rates_with_intervals(labels, scores >= threshold),
                     "method": card.local.get("method", "") + "; threshold then chosen in the "
                     "wizard on these out-of-fold scores: the figures at it are not "
                     "independent of that choice"}
    new.threshold_rule = {"method": CHOSEN_RULE, "split": split,
                          "suggested": card.threshold, "suggested_rule": card.threshold_rule}
    if not card.local or card.threshold_rule.get("method") == "local_cross_fitting":
        new.validation = {**report, "best_epoch": card.validation.get("best_epoch")}
    # recalibrated only: `validation` stays the training hospital's figures
    return new
