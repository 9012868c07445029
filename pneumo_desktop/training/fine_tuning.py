"""Fine-tuning a bundle on a clinic's own small labelled set (50-500 studies), with figures and
threshold from out-of-fold predictions on all of them.

The recipe (the default of `train --init-from` and of the wizard's fine-tune path; measured
in `benchmarks/site_adaptation.py`, table in the README):

- **batch norm in inference mode** (`freeze_batch_norm`): its moving statistics, estimated on
  thousands of films, are kept; re-estimating them on batches of a few dozen local films is
  what sank training AUC in the first epoch (issue 11);
- **partial unfreezing** (`trainable`): only the last convolution block of each ensemble member
  and the dense head learn ("top"); "head" trains the head alone (the features and so the
  learned input check stay valid), "all" every layer;
- **light augmentation** (`fine_tune_augment_strength`, half the from-scratch strength);
- **an epoch budget chosen by inner validation**: each fold's model stops early on the validation
  loss of an inner patient split of its training studies (`inner_val_fraction`); the final model
  learns from every study for the median best epoch of the folds.

Threshold and calibration come from **cross-fitting** (`cross_fit_folds`, k-fold by patient):
each fold's model scores the studies it did not learn from, so every local study gets an
out-of-fold logit. Platt scaling is fitted on those and folded into the final model, and the
threshold is `local_calibration.site_threshold` of the calibrated out-of-fold logits. The
figures in the card's `local` section are cross-validated once more on them (calibration and
threshold fitted without the fold's patients, Wilson 95 % intervals), beside the parent
model's at its own threshold on the same studies.
"""

from __future__ import annotations

import copy
import gc
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.evaluation import metrics
from pneumo_desktop.evaluation.datasets import build_cache, patient_folds, patient_split
from pneumo_desktop.model.bundle import ModelCard, read_bundle
from pneumo_desktop.training.config import (
    PreparedData,
    TrainConfig,
    TrainingCallbacks,
    TrainingCancelled,
    TrainingResult,
)
from pneumo_desktop.training.local_calibration import (
    THRESHOLD_RULE,
    fit_operating_point,
    local_section,
    size_checks,
)
from pneumo_desktop.training.recipe import all_trainable, apply_recipe
from pneumo_desktop.training.train import (
    card_config,
    fit,
    fit_input_check,
    fold_calibration,
    heat_scale_section,
    predict_logits,
    redacted_command,
    scan_data,
    screen_with_learned_check,
    subset,
)


class _Runs(TrainingCallbacks):
    """Passes progress on and remembers "Stop": the run under way ends after its batch (its
    best weights kept) and no further run starts. A fold's model stopped so becomes the final
    model, and the folds not run are scored by the starting model, which never learned from
    them either (see `fine_tune_local`)."""

    def __init__(self, inner: TrainingCallbacks):
        self.inner = inner
        self.stopped = False

    def on_message(self, text: str) -> None:
        self.inner.on_message(text)

    def on_cache_progress(self, done: int, total: int) -> None:
        self.inner.on_cache_progress(done, total)

    def on_batch(self, progress) -> None:
        self.inner.on_batch(progress)

    def on_epoch(self, progress) -> None:
        self.inner.on_epoch(progress)

    def on_run(self, run: int, runs: int, title: str, epochs: int) -> None:
        self.inner.on_run(run, runs, title, epochs)

    def cancel_requested(self) -> bool:
        return self.inner.cancel_requested()

    def stop_requested(self) -> bool:
        if self.stopped or not self.inner.stop_requested():
            return False
        self.stopped = True
        return True


@dataclass
class LocalFineTune:
    """A model fine-tuned by cross-fitting, not yet saved. `result.val_labels`/`val_scores`:
    every local study with its calibrated out-of-fold probability; `active_scores`: the parent
    model's probabilities on the same studies."""

    result: TrainingResult
    active_scores: np.ndarray
    patients: int


def fine_tune_local(data_dir: str | Path, config: TrainConfig,
                    callbacks: TrainingCallbacks | None = None,
                    name: str = "model") -> LocalFineTune:
    """Fine-tune `config.init_from` on every labelled study in `data_dir` by cross-fitting
    (see the module's docstring). Raises TrainingCancelled on Cancel."""
    from pneumo_desktop.model.backend import device_description, keras_module

    keras = keras_module()
    if not config.init_from:
        raise PneumoError("Fine-tuning needs a model to start from")
    outer = callbacks or TrainingCallbacks()
    runs = _Runs(outer)
    config = copy.deepcopy(config)
    started = time.perf_counter()
    parent = read_bundle(config.init_from)
    config.architecture, config.image_size = parent.card.architecture, parent.card.input_size
    config.augment_strength = config.fine_tune_augment_strength
    preprocessing = dict(parent.card.preprocessing)
    keras.utils.set_random_seed(config.seed if config.init_seed is None else config.init_seed)

    scan = scan_data(data_dir, config)
    cache = build_cache(scan.samples, config.image_size, preprocessing,
                        progress=outer.on_cache_progress)
    data = PreparedData(scan, {"all": list(cache.samples)}, {"all": cache},
                        list(cache.unreadable))
    for _path, reason in cache.unreadable:
        what = "not a frontal chest film" if "not scored: " in reason else "unreadable file"
        outer.on_message(f"skipped {what}: {reason}")
    model = parent.load_keras_model()
    if parent.has_learned_check:
        screen_with_learned_check(data, model, parent.learned_check(), outer)
    cache = data.caches["all"]
    labels = cache.labels.astype(bool)
    warnings = size_checks(labels, "fine-tune")
    for text in warnings:
        outer.on_message(f"warning: {text}")
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    folds = max(2, min(config.cross_fit_folds, n_pos, n_neg))
    parent_logits = predict_logits(model, cache)
    recipe = apply_recipe(model, config)
    outer.on_message(
        f"fine-tuning {parent.name} on {len(labels)} studies ({n_pos} pneumonia, {n_neg} "
        f"normal) on {device_description()}: layers learning: {config.trainable}, batch norm "
        f"{'frozen' if config.freeze_batch_norm else 'learning'}, "
        f"{recipe['trainable_parameters']:,} parameters; {folds}-fold cross-fitting by patient")
    initial = model.get_weights()
    index = {id(s): i for i, s in enumerate(cache.samples)}
    oof = np.full(len(labels), np.nan)
    stopped_after = 0
    best_epochs, fold_aucs = [], []
    for f, (train_s, held_s) in enumerate(patient_folds(cache.samples, folds, config.seed)):
        inner = patient_split(train_s, config.inner_val_fraction, 0.0, config.seed + f)
        fold = PreparedData(scan, inner, {k: subset(cache, [index[id(s)] for s in v])
                                          for k, v in inner.items() if v}, [])
        held = subset(cache, [index[id(s)] for s in held_s])
        fold_config = copy.deepcopy(config)
        runs.on_run(f + 1, folds + 1, f"fold {f + 1} of {folds}: learning from "
                    f"{len(fold.caches['train'].labels)} studies (early stopping on "
                    f"{len(fold.caches['val'].labels)}), scoring the {len(held.labels)} "
                    "it never sees", fold_config.epochs)
        model.set_weights(initial)
        adapter = fit(model, fold, fold_config, runs, monitor="val_loss")
        best_epochs.append(adapter.best_epoch)
        oof[[index[id(s)] for s in held_s]] = predict_logits(model, held)
        fold_aucs.append(metrics.roc_auc(held.labels, oof[[index[id(s)] for s in held_s]]))
        outer.on_message(f"fold {f + 1}/{folds}: best epoch {adapter.best_epoch}, AUC on its "
                         f"{len(held.labels)} unseen studies {fold_aucs[-1]:.3f}")
        gc.collect()
        if runs.stopped:  # Stop: keep this fold's model; the rest is scored by the parent
            stopped_after = f + 1
            break
    if runs.cancel_requested():
        raise TrainingCancelled("Training cancelled; nothing was saved")

    if stopped_after:
        rest = np.isnan(oof)
        oof[rest] = parent_logits[rest]  # never learned from either: still out of sample
        final_epochs = adapter.best_epoch
        outer.on_message(f"stopped: the model of fold {stopped_after} is kept (it learned from "
                         f"{len(fold.caches['train'].labels)} studies); the {int(rest.sum())} "
                         "studies of the folds not run are scored by the starting model")
    else:
        final_epochs = max(1, int(round(float(np.median(best_epochs)))))
        final_config = copy.deepcopy(config)
        final_config.epochs = final_epochs
        runs.on_run(folds + 1, folds + 1, f"final model: learning from all {len(labels)} "
                    f"studies for {final_epochs} epoch(s) (the folds' median best epoch)",
                    final_epochs)
        model.set_weights(initial)
        adapter = fit(model, PreparedData(scan, {"train": list(cache.samples)},
                                          {"train": cache}, []), final_config, runs,
                      monitor=None)
    if runs.cancel_requested():
        raise TrainingCancelled("Training cancelled; nothing was saved")
    all_trainable(model)

    target = config.target_sensitivity
    a, b, threshold = fit_operating_point(labels, oof, target)
    fold_calibration(model, a, b)
    scores = metrics.sigmoid(a * oof + b)
    local = local_section(
        labels, oof, list(cache.samples), folds=folds, seed=config.seed, target=target,
        method=f"fine-tuned by {folds}-fold cross-fitting by patient: Platt calibration and a "
               f"threshold for sensitivity {target} ({THRESHOLD_RULE}) from out-of-fold "
               "predictions on all local studies; figures cross-validated on them; Wilson 95 % "
               "intervals",
        active_name=parent.name, active_threshold=parent.card.threshold,
        active_logits=parent_logits, warnings=warnings,
        refused_by_input_check=sum("not scored: " in r for _p, r in data.unreadable),
        unreadable=sum("not scored: " not in r for _p, r in data.unreadable))

    if config.trainable == "head" and parent.has_learned_check:
        check = parent.learned_check()  # the features did not change
    else:
        split = patient_split(list(cache.samples), 0.25, 0.0, config.seed)
        check = fit_input_check(model, PreparedData(scan, split, {
            k: subset(cache, [index[id(s)] for s in v]) for k, v in split.items() if v}, []),
            config.seed, outer)

    validation = {k: v for k, v in metrics.report(labels, scores, threshold).items()
                  if k != "roc"}
    validation.update(best_epoch=final_epochs, split="out-of-fold (all local studies)")
    card = ModelCard(
        name=name, architecture=config.architecture, input_size=config.image_size,
        threshold=threshold, preprocessing=preprocessing,
        threshold_rule={"method": "local_cross_fitting", "target": target,
                        "split": f"out-of-fold predictions, {folds}-fold by patient, all "
                                 "local studies",
                        "rule": THRESHOLD_RULE + " (calibrated out-of-fold logits)"},
        validation=validation,
        calibration={"method": "platt on out-of-fold logits (folded into the logit layer)",
                     "a": a, "b": b,
                     "ece": metrics.expected_calibration_error(labels, scores),
                     "brier": float(np.mean((scores - labels) ** 2))},
        training={
            "layout": scan.layout,
            "counts": {"all": {"images": len(labels), "pneumonia": n_pos,
                               "patients": len({s.patient for s in cache.samples})}},
            "unreadable": len(data.unreadable),
            "holdout": {"folders": len(config.holdout)},
            "config": card_config(config),
            "recipe": recipe,
            "cross_fitting": {"folds": folds, "best_epochs": best_epochs,
                              "fold_auc": fold_aucs, "final_epochs": final_epochs,
                              "stopped_after_fold": stopped_after or None},
            "epochs_run": len(adapter.history["loss"]),
            "stopped_by_user": runs.stopped,
            "history": adapter.history,
            "seconds": round(time.perf_counter() - started, 1),
            "device": device_description(),
            "backend": keras.backend.backend(),
            "precision": "float32",
            "fine_tuned_from": parent.name,
            "ensemble": None,
            "command": redacted_command(sys.argv[1:]) if "train" in sys.argv else "",
        },
        local=local)
    card.heatmap = heat_scale_section(model, cache.images, scores >= threshold,
                                      "local studies the fine-tuned model flags "
                                      "(out-of-fold)") or dict(parent.card.heatmap)
    result = TrainingResult(model, card, adapter.history, labels.astype(np.float32), scores,
                            runs.stopped, check)
    return LocalFineTune(result, metrics.sigmoid(parent_logits),
                         len({s.patient for s in cache.samples}))


