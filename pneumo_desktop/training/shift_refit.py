"""Re-fitting a trained bundle's calibration so that it holds under a shift, without training
(`pneumo-desktop shift-calibrate`; see `training.shift_calibration`). The new Platt scaling is
composed with the one already folded into the last layer, and the threshold moves with it so
that every decision stays the same: only the probabilities shown change."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from pneumo_desktop.evaluation import metrics
from pneumo_desktop.evaluation.datasets import Sample, build_cache
from pneumo_desktop.model.bundle import ModelBundle, read_bundle, write_bundle
from pneumo_desktop.training.config import TrainConfig, TrainingCallbacks
from pneumo_desktop.training.shift_calibration import (
    FIT_SEED,
    REPORT_SEED,
    fit_for_shift,
    moved_threshold,
    shift_section,
    shifted_cache,
)
from pneumo_desktop.training.train import (
    adopt_split,
    fold_calibration,
    predict_logits,
    scan_data,
    split_samples,
    summary,
)


def refit_for_shift(data_dir: str | Path, bundle_path: str | Path, out_dir: str | Path,
                    holdout: list[str] | None = None,
                    callbacks: TrainingCallbacks | None = None,
                    name: str | None = None) -> ModelBundle:
    """Re-fit `bundle_path`'s calibration on its validation split and a shifted copy (see the
    module's docstring) and write the result to `out_dir`: weights of the last layer and the
    threshold change, decisions do not. Pass the same `--holdout` as the training run."""
    callbacks = callbacks or TrainingCallbacks()
    started = time.perf_counter()
    bundle = read_bundle(bundle_path)
    card = copy.deepcopy(bundle.card)
    size, preprocessing = card.input_size, dict(card.preprocessing)
    config = TrainConfig(image_size=size, holdout=list(holdout or []))
    adopt_split(config, bundle)
    splits = split_samples(scan_data(data_dir, config), config)
    model = bundle.load_keras_model()
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, seed in (("val", FIT_SEED), ("test", REPORT_SEED)):
        samples: list[Sample] = splits.get(split, [])
        if not samples:
            continue
        home = build_cache(samples, size, preprocessing, progress=callbacks.on_cache_progress)
        label = "validation" if split == "val" else "test"
        sets[label] = (home.labels, predict_logits(model, home))
        callbacks.on_message(f"scoring the {label} split shifted ({len(home.samples)} films)")
        shifted = shifted_cache(home, size, preprocessing, seed)
        sets[f"{label}, shifted"] = (home.labels, predict_logits(model, shifted))
    a, b = fit_for_shift(sets["validation"][0], sets["validation"][1],
                         sets["validation, shifted"][1])
    section = shift_section(a, b, sets)
    fold_calibration(model, a, b)
    threshold = moved_threshold(card.threshold, a, b)
    labels, logits = sets["validation"]
    validation = summary(metrics.report(labels, metrics.sigmoid(a * logits + b), threshold))
    validation["best_epoch"] = card.validation.get("best_epoch")
    card.validation, card.threshold = validation, threshold
    previous = {k: v for k, v in card.calibration.items() if k != "shift"}
    card.calibration = {
        "method": "platt on the validation split and a shifted copy of it, composed with the "
                  "calibration before (folded into the logit layer)",
        "ece": validation["ece"], "brier": validation["brier"], "shift": section,
        "before": previous}
    if "test" in sets:
        test_labels, test_logits = sets["test"]
        card.training["test"] = summary(metrics.report(
            test_labels, metrics.sigmoid(a * test_logits + b), threshold))
    card.training["shift_calibration"] = {"seconds": round(time.perf_counter() - started, 1),
                                          "threshold_before": bundle.card.threshold}
    card.name = name or card.name
    check = bundle.learned_check() if bundle.has_learned_check else None
    return write_bundle(out_dir, model, card, check)
