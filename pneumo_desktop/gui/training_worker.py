"""Background work for the training wizard: folder check, speed warm-up, training and saving.

Each worker is a `gui.workers.Worker` run in its own QThread. TensorFlow is imported only here,
inside `work()` (through the core), never on the GUI thread. The wizard has no training code of
its own: it calls `core.training.prepare_data`, `train` and `save_result`.
"""

from __future__ import annotations

import copy
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal

from pneumo_desktop.core import metrics, training
from pneumo_desktop.core.bundle import ModelCard, read_bundle
from pneumo_desktop.core.datasets import DatasetScan, build_cache, scan_dataset
from pneumo_desktop.core.errors import PneumoError
from pneumo_desktop.core.training import (
    BatchProgress,
    EpochProgress,
    PreparedData,
    TrainConfig,
    TrainingCallbacks,
    TrainingCancelled,
    TrainingResult,
)
from pneumo_desktop.gui.workers import CancellableWorker, Worker

CHECK_SIZE = 32  # the folder check decodes every image at this size (fast, reduced JPEG decode)
DECODE_SECONDS = 0.002  # reading and resizing one image (in parallel threads)
VALIDATION_COST = 0.35  # a validation batch costs about this fraction of a training step
CHOSEN_RULE = "chosen in the wizard"
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def load_keras():
    """Import Keras/TensorFlow in the calling (worker) thread (the core freezes the import-time
    objects out of the garbage collector's reach, so collections don't stall the GUI)."""
    from pneumo_desktop.core.backend import keras_module

    return keras_module()


def error_text(exc: BaseException) -> str:
    """The message to show: the core's own wording, or the exception type and text."""
    if isinstance(exc, PneumoError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


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
    refuses (reasons starting "not scored: ", see `core.datasets.build_cache`)."""

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
@dataclass
class SpeedEstimate:
    """Seconds per training step of one architecture on this machine."""

    architecture: str
    image_size: int
    batch_size: int
    seconds_per_step: float
    first_step: float  # building and compiling the step (paid once per run)

    def total_seconds(self, n_train: int, n_eval: int, config: TrainConfig) -> float:
        """Estimated duration of `config.epochs` epochs over `n_train` images, validating on
        `n_eval` images (validation split, then the calibration and test predictions)."""
        steps = math.ceil(n_train / max(config.batch_size, 1))
        if config.max_steps_per_epoch:
            steps = min(steps, config.max_steps_per_epoch)
        eval_steps = math.ceil(n_eval / max(config.batch_size, 1))
        step = self.seconds_per_step * config.batch_size / self.batch_size
        per_epoch = steps * step + eval_steps * step * VALIDATION_COST
        setup = 3 * self.first_step + DECODE_SECONDS * (n_train + n_eval)  # build, trace, read
        return setup + config.epochs * per_epoch + 2 * eval_steps * step


def measure_speed(architecture: str, image_size: int, batch_size: int, steps: int = 3,
                  cancelled=lambda: False) -> SpeedEstimate | None:
    """Time a few optimiser steps of a fresh model on random images (None when cancelled)."""
    from pneumo_desktop.core.architectures import build_model

    keras = load_keras()
    if cancelled():
        return None
    model = build_model(architecture, image_size)
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss=keras.losses.BinaryCrossentropy(),
                  metrics=[keras.metrics.AUC(name="auc")])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch_size, image_size, image_size, 1)).astype(np.float32)
    y = (np.arange(batch_size) % 2).astype(np.float32)
    started = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - started
    times = []
    for _ in range(steps):
        if cancelled():
            return None
        started = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - started)
    return SpeedEstimate(architecture, image_size, batch_size, float(np.median(times)), first)


class SpeedProbe(CancellableWorker):
    """Measures training speed for the duration estimate. Holds `gate` while measuring so that
    training (which takes the gate before starting) never competes with it for the CPU."""

    measured = Signal(int, object)  # request, SpeedEstimate
    failed = Signal(int, str)

    def __init__(self, request: int, architecture: str, image_size: int, batch_size: int,
                 gate: threading.Lock):
        super().__init__()
        self.request = request
        self.architecture, self.image_size, self.batch_size = architecture, image_size, batch_size
        self.gate = gate
    def work(self) -> None:
        try:
            with self.gate:
                estimate = measure_speed(self.architecture, self.image_size, self.batch_size,
                                         cancelled=self._cancel.is_set)
        except Exception as exc:
            self.failed.emit(self.request, error_text(exc))
            return
        if estimate is not None:
            self.measured.emit(self.request, estimate)


# -- training ----------------------------------------------------------------------------------
@dataclass
class ActiveComparison:
    """The active model scored on the new model's validation split."""

    name: str
    threshold: float
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None
    error: str | None = None  # why it could not be scored


@dataclass
class TrainingOutcome:
    result: TrainingResult
    comparison: ActiveComparison | None
    val_images: int
    val_patients: int


class SignalCallbacks(TrainingCallbacks):
    """Core progress -> the worker's Qt signals; Stop and Cancel read thread-safe flags."""

    def __init__(self, worker: TrainingWorker):
        self.worker = worker

    def on_message(self, text: str) -> None:
        self.worker.message.emit(text)

    def on_cache_progress(self, done: int, total: int) -> None:
        self.worker.cacheProgress.emit(done, total)
        if self.cancel_requested():  # decoding a large folder takes a while: honour Cancel
            raise TrainingCancelled("Training cancelled; nothing was saved")

    def on_batch(self, progress: BatchProgress) -> None:
        self.worker.batch.emit(progress)

    def on_epoch(self, progress: EpochProgress) -> None:
        self.worker.epoch.emit(progress)

    def stop_requested(self) -> bool:
        return self.worker.stop_flag.is_set()

    def cancel_requested(self) -> bool:
        return self.worker.cancel_flag.is_set()


class TrainingWorker(Worker):
    """Runs core `prepare_data` + `train`, then scores the active model on the same validation
    split. Ends with exactly one of `succeeded`, `cancelled` or `failed`."""

    message = Signal(str)
    stage = Signal(str)  # "waiting", "preparing", "training", "comparing"
    cacheProgress = Signal(int, int)
    batch = Signal(object)  # BatchProgress
    epoch = Signal(object)  # EpochProgress
    succeeded = Signal(object)  # TrainingOutcome
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, folder: str | Path, config: TrainConfig, name: str,
                 active_model: Path | None, gate: threading.Lock | None = None):
        super().__init__()
        self.folder = Path(folder)
        self.config = copy.deepcopy(config)
        self.name = name
        self.active_model = active_model
        self.gate = gate or threading.Lock()
        self.stop_flag = threading.Event()
        self.cancel_flag = threading.Event()

    def request_stop(self) -> None:
        """Finish after the current batch (and its epoch's validation); keep the best model."""
        self.stop_flag.set()

    def request_cancel(self) -> None:
        """Abandon training as soon as possible; nothing is kept."""
        self.cancel_flag.set()

    def work(self) -> None:
        callbacks = SignalCallbacks(self)
        try:
            self.stage.emit("waiting")
            with self.gate:  # let a running speed measurement end first
                pass
            load_keras()
            config, preprocessing = training.resolve_parent(self.config)
            self.stage.emit("preparing")
            data = training.prepare_data(self.folder, config, callbacks, preprocessing)
            if callbacks.cancel_requested():
                raise TrainingCancelled("Training cancelled; nothing was saved")
            self.stage.emit("training")
            result = training.train(self.folder, config, callbacks, name=self.name, data=data)
            comparison = None
            if self.active_model is not None:
                self.stage.emit("comparing")
                comparison = compare_active(self.active_model, data, config.image_size,
                                            preprocessing)
            if callbacks.cancel_requested():
                raise TrainingCancelled("Training cancelled; nothing was saved")
        except TrainingCancelled:
            self.cancelled.emit()
        except Exception as exc:  # shown to the user; the app and saved models are unaffected
            self.failed.emit(error_text(exc))
        else:
            val = data.caches["val"]
            self.succeeded.emit(TrainingOutcome(result, comparison, len(val.samples),
                                                len({s.patient for s in val.samples})))


def compare_active(active_model: Path, data: PreparedData, image_size: int,
                   preprocessing: dict) -> ActiveComparison:
    """Score the active model on `data`'s validation images (decoded again only when the active
    model needs another size or preprocessing)."""
    from pneumo_desktop.core.inference import Predictor

    name = Path(active_model).name
    try:
        bundle = read_bundle(active_model)
        name = bundle.card.name
        val = data.caches["val"]
        if bundle.card.input_size != image_size or bundle.card.preprocessing != preprocessing:
            val = build_cache(val.samples, bundle.card.input_size, bundle.card.preprocessing)
        probs, _ = Predictor(bundle).predict_inputs(val.images[..., None].astype(np.float32))
        return ActiveComparison(name, bundle.card.threshold, val.labels.copy(), probs)
    except Exception as exc:
        return ActiveComparison(name, float("nan"), error=error_text(exc))


# -- saving ------------------------------------------------------------------------------------
def card_with_threshold(card: ModelCard, labels: np.ndarray, scores: np.ndarray,
                        threshold: float) -> ModelCard:
    """A copy of `card` whose operating point is `threshold` (validation figures recomputed);
    the card itself when the threshold is unchanged."""
    if threshold == card.threshold:
        return card
    new = copy.deepcopy(card)
    report = {k: v for k, v in metrics.report(labels, scores, threshold).items() if k != "roc"}
    new.threshold = float(threshold)
    new.threshold_rule = {"method": CHOSEN_RULE, "split": "validation (patient-level)",
                          "suggested": card.threshold, "suggested_rule": card.threshold_rule}
    new.validation = {**report, "best_epoch": card.validation.get("best_epoch")}
    return new


class ModelSaver(Worker):
    """Writes the bundle (core `save_result`: atomic) and reads it back to verify it."""

    saved = Signal(str)  # bundle folder
    failed = Signal(str)

    def __init__(self, result: TrainingResult, folder: Path):
        super().__init__()
        self.result = result
        self.folder = Path(folder)

    def work(self) -> None:
        try:
            bundle = training.save_result(self.result, self.folder)
            read_bundle(bundle.path)
        except Exception as exc:
            self.failed.emit(error_text(exc))
        else:
            self.saved.emit(str(bundle.path))
