"""A training run as the wizard drives it: speed estimate, prepare + train + compare with the
active model. Runs in the compute process (see `compute.tasks`); no Qt."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.evaluation.datasets import build_cache
from pneumo_desktop.model.bundle import read_bundle
from pneumo_desktop.training import train as training
from pneumo_desktop.training.config import (
    PreparedData,
    TrainConfig,
    TrainingCallbacks,
    TrainingCancelled,
    TrainingResult,
)

DECODE_SECONDS = 0.002  # reading and resizing one image (in parallel threads)
VALIDATION_COST = 0.35  # a validation batch costs about this fraction of a training step


def error_text(exc: BaseException) -> str:
    """The message to show: the core's own wording, or the exception type and text."""
    if isinstance(exc, PneumoError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@dataclass
class SpeedEstimate:
    """Seconds per training step of one architecture on this machine."""

    architecture: str
    image_size: int
    batch_size: int
    seconds_per_step: float
    first_step: float  # building and compiling the step (paid once per run)
    device: str = "CPU"

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
                  cancelled: Callable[[], bool] = lambda: False) -> SpeedEstimate | None:
    """Time a few optimiser steps of a fresh model on random images, on the device training
    will use (None when cancelled)."""
    from pneumo_desktop.model.architectures import build_model
    from pneumo_desktop.model.backend import device_description, keras_module

    keras = keras_module()
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
    return SpeedEstimate(architecture, image_size, batch_size, float(np.median(times)), first,
                         device_description())


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
    # "validation": a held-back split; "cross-validated": every local study, scored out of fold
    source: str = "validation"


def compare_active(active_model: Path, data: PreparedData, image_size: int,
                   preprocessing: dict) -> ActiveComparison:
    """Score the active model on `data`'s validation images (decoded again only when the active
    model needs another size or preprocessing)."""
    from pneumo_desktop.model.inference import Predictor

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


def run_session(folder: str | Path, config: TrainConfig, name: str, active_model: Path | None,
                callbacks: TrainingCallbacks, stage: Callable[[str], None]) -> TrainingOutcome:
    """Prepare the folder, train, and score the active model on the same validation split.
    `stage` is told "preparing", "training", "comparing"; raises TrainingCancelled."""
    from pneumo_desktop.model.backend import keras_module

    keras_module()
    config, preprocessing = training.resolve_parent(config)
    stage("preparing")
    if config.init_from and config.cross_fit_folds:  # a clinic's small set: cross-fitting
        from pneumo_desktop.training.fine_tuning import fine_tune_local

        done = fine_tune_local(folder, config, callbacks, name=name)
        labels = done.result.val_labels
        comparison = None
        if active_model is not None:
            active = done.result.card.local["active_model"]
            comparison = ActiveComparison(active["name"], active["threshold"], labels.copy(),
                                          done.active_scores)
        return TrainingOutcome(done.result, comparison, len(labels), done.patients,
                               source="cross-validated")
    data = training.prepare_data(folder, config, callbacks, preprocessing)
    if callbacks.cancel_requested():
        raise TrainingCancelled("Training cancelled; nothing was saved")
    stage("training")
    result = training.train(folder, config, callbacks, name=name, data=data)
    comparison = None
    if active_model is not None:
        stage("comparing")
        comparison = compare_active(active_model, data, config.image_size, preprocessing)
    if callbacks.cancel_requested():
        raise TrainingCancelled("Training cancelled; nothing was saved")
    val = data.caches["val"]
    return TrainingOutcome(result, comparison, len(val.samples),
                           len({s.patient for s in val.samples}))
