"""What a training run is told (`TrainConfig`) and what it reports back: progress events, the
callbacks that receive them (plain Python: the CLI prints them, the GUI plots them) and results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.evaluation.datasets import DatasetScan, ImageCache, Sample
from pneumo_desktop.model.bundle import ModelCard


class TrainingCancelled(PneumoError):
    """The user cancelled: nothing is saved."""


@dataclass
class TrainConfig:
    architecture: str = "compact_cnn"
    image_size: int = 224
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float | None = None  # None: 1e-3 from scratch, 1e-4 when fine-tuning
    seed: int = 42
    target_sensitivity: float = 0.95
    threshold_confidence: float | None = 0.95  # sensitivity's lower bound must reach the target
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    init_from: str | None = None
    folds: int = 0
    equalize: str = "none"
    holdout: list[str] = field(default_factory=list)
    limit: int = 0  # at most this many images (quick runs); 0 = all
    augment: bool = True
    augment_strength: float = 1.0
    border_masking: float = 0.0  # probability that each side of a training image is masked
    burned_in_marks: float = 0.0  # probability that a training image gets a burned-in bar
    class_weighting: bool = True
    label_smoothing: float = 0.05
    patience: int = 6
    calibrate: bool = True
    shift_calibration: bool = False  # Platt on the validation split and a shifted copy of it
    max_steps_per_epoch: int = 0  # 0 = whole epoch (tests use a few steps)
    init_seed: int | None = None  # weight initialisation and augmentation; None = seed
    ensemble_with: list[str] = field(default_factory=list)  # bundles to average with
    precision: str = "auto"  # "auto" (mixed_float16 on a GPU, else float32), or either
    # fine-tuning a bundle (init_from) on a clinic's small set: see training.fine_tuning
    freeze_batch_norm: bool = True  # batch norm in inference mode: moving statistics kept
    trainable: str = "top"  # "head", "top" (last conv block of each member + head) or "all"
    cross_fit_folds: int = 5  # k-fold by patient: out-of-fold threshold and figures; 0: val split
    inner_val_fraction: float = 0.2  # epoch budget: early stopping on this inner split
    fine_tune_augment_strength: float = 0.5  # lighter than from scratch (augment_strength)


@dataclass
class BatchProgress:
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based
    batches: int
    loss: float
    auc: float
    images_per_second: float
    eta_seconds: float


@dataclass
class EpochProgress:
    epoch: int
    epochs: int
    loss: float
    auc: float
    val_loss: float
    val_auc: float
    seconds: float
    eta_seconds: float
    best_val_auc: float
    improved: bool


def epoch_summary(best: EpochProgress, latest: EpochProgress) -> str:
    """The line under the training curves after an epoch: the best epoch so far by validation
    AUC, or, for a model trained without validation (the final model of a fine-tune, which
    learns from every study), that its figures come from the folds; never "AUC nan"."""
    if not np.isfinite(latest.val_auc):
        return (f"Final model: epoch {latest.epoch} of {latest.epochs} done "
                f"({latest.seconds:.0f} s). It learns from all your studies, so none is left "
                "to validate it on: its figures come from the folds, each scored on studies "
                "its model never saw.")
    return (f"Best so far: epoch {best.epoch}, validation AUC {best.val_auc:.3f} "
            f"(this epoch: {latest.val_auc:.3f}, {latest.seconds:.0f} s)")


class TrainingCallbacks:
    """Override what you need; every method is optional."""

    def on_message(self, text: str) -> None: ...
    def on_cache_progress(self, done: int, total: int) -> None: ...
    def on_batch(self, progress: BatchProgress) -> None: ...
    def on_epoch(self, progress: EpochProgress) -> None: ...
    def on_run(self, run: int, runs: int, title: str, epochs: int) -> None:
        """A new training run starts (cross-fitting trains several models one after another)."""

    def stop_requested(self) -> bool:
        """Finish now and keep the best model so far."""
        return False

    def cancel_requested(self) -> bool:
        """Abandon training; nothing is saved."""
        return False


@dataclass
class PreparedData:
    scan: DatasetScan
    splits: dict[str, list[Sample]]
    caches: dict[str, ImageCache]
    unreadable: list[tuple[Path, str]]


@dataclass
class TrainingResult:
    model: Any
    card: ModelCard
    history: dict[str, list[float]]
    val_labels: np.ndarray
    val_scores: np.ndarray
    stopped_early: bool = False
    learned_check: Any = None  # model.input_check.LearnedCheck fitted on this run's data
