"""Training from scratch: augmented NumPy batches from an in-memory cache (`training.batches`,
any Keras backend), best checkpoint on validation AUC,
Platt calibration folded into the model, and the operating point for a target sensitivity.

Progress goes through `TrainingCallbacks` (plain Python): the CLI prints it, the GUI plots it.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.evaluation import metrics
from pneumo_desktop.evaluation.datasets import (
    DatasetScan,
    ImageCache,
    build_cache,
    patient_folds,
    patient_split,
    scan_dataset,
)
from pneumo_desktop.evaluation.drift import reference_section
from pneumo_desktop.imaging.preprocessing import DEFAULT_PREPROCESSING
from pneumo_desktop.model import precision
from pneumo_desktop.model.architectures import LOGIT_LAYER, merge_into_ensemble, parse_architecture
from pneumo_desktop.model.bundle import ModelBundle, ModelCard, read_bundle, write_bundle
from pneumo_desktop.training.config import (
    BatchProgress,
    EpochProgress,
    PreparedData,
    TrainConfig,
    TrainingCallbacks,
    TrainingCancelled,
    TrainingResult,
)


def resolve_learning_rate(config: TrainConfig) -> float:
    if config.learning_rate:
        return config.learning_rate
    return 1e-4 if config.init_from else 1e-3


def scan_data(data_dir: str | Path, config: TrainConfig) -> DatasetScan:
    """The dataset, without holdout studies, limited to `config.limit` images if set."""
    scan = scan_dataset(data_dir, [Path(h) for h in config.holdout])
    if config.limit and len(scan.samples) > config.limit:
        rng = np.random.default_rng(config.seed)
        keep = sorted(rng.choice(len(scan.samples), config.limit, replace=False))
        scan = DatasetScan(scan.root, scan.layout, [scan.samples[i] for i in keep])
    return scan


def split_samples(scan: DatasetScan, config: TrainConfig) -> dict[str, list]:
    """The run's patient split: train / val / test samples (a Kaggle layout keeps its own
    test folder and re-splits the rest)."""
    samples = scan.samples
    if scan.layout == "kaggle" and any(s.split == "test" for s in samples):
        pool = [s for s in samples if s.split != "test"]
        splits = patient_split(pool, config.val_fraction, 0.0, config.seed)
        splits["test"] = [s for s in samples if s.split == "test"]
        return splits
    return patient_split(samples, config.val_fraction, config.test_fraction, config.seed)


def prepare_data(data_dir: str | Path, config: TrainConfig,
                 callbacks: TrainingCallbacks | None = None,
                 preprocessing: dict | None = None) -> PreparedData:
    """Scan, split by patient and decode every image once at the input size."""
    callbacks = callbacks or TrainingCallbacks()
    scan = scan_data(data_dir, config)
    splits = split_samples(scan, config)
    if not splits["val"]:
        raise PneumoError("Too few patients for a validation split")
    callbacks.on_message(
        f"split by patient (seed {config.seed}): "
        + ", ".join(f"{k} {len(v)} images" for k, v in splits.items()))
    spec = preprocessing or {**DEFAULT_PREPROCESSING, "equalize": config.equalize}
    caches, unreadable = {}, []
    total = sum(len(v) for v in splits.values())
    done_before = 0
    for name, part in splits.items():
        if not part:
            continue
        offset = done_before
        caches[name] = build_cache(
            part, config.image_size, spec,
            progress=lambda d, _t, o=offset: callbacks.on_cache_progress(o + d, total))
        done_before += len(part)
        unreadable.extend(caches[name].unreadable)
    for _path, reason in unreadable:
        what = "not a frontal chest film" if "not scored: " in reason else "unreadable file"
        callbacks.on_message(f"skipped {what}: {reason}")
    return PreparedData(scan, splits, caches, unreadable)


def _progress_adapter(keras, callbacks: TrainingCallbacks, epochs: int, batches: int,
                      batch_size: int, monitor: str | None = "val_auc"):
    class Adapter(keras.callbacks.Callback):
        """Keras callback -> TrainingCallbacks; keeps the best weights by `monitor` (validation
        AUC, or validation loss), or the last ones when there is no validation (None)."""

        def __init__(self):
            super().__init__()
            self.best_auc, self.best_weights, self.best_epoch = -np.inf, None, 0
            self.best_score = -np.inf
            self.cancelled = self.stopped = False
            self.history: dict[str, list[float]] = {k: [] for k in
                                                    ("loss", "auc", "val_loss", "val_auc")}
            self.started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.epoch_started = epoch, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0 and self.epoch == 0:
                gc.freeze()  # the traced graph lives as long as the model
            logs = logs or {}
            elapsed = time.perf_counter() - self.epoch_started
            rate = (batch + 1) * batch_size / max(elapsed, 1e-9)
            remaining = (batches - batch - 1) + (epochs - self.epoch - 1) * batches
            callbacks.on_batch(BatchProgress(
                self.epoch + 1, epochs, batch + 1, batches, float(logs.get("loss", np.nan)),
                float(logs.get("auc", np.nan)), rate, remaining * batch_size / max(rate, 1e-9)))
            if callbacks.cancel_requested():
                self.cancelled = self.model.stop_training = True
            elif callbacks.stop_requested():
                self.stopped = self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            for key in self.history:
                self.history[key].append(float(logs.get(key, np.nan)))
            val_auc = float(logs.get("val_auc", np.nan))
            score = np.inf if monitor is None else float(logs.get(monitor, np.nan)) * (
                -1 if monitor == "val_loss" else 1)
            improved = bool(np.isfinite(score) and score > self.best_score) or \
                self.best_weights is None or monitor is None
            if improved:
                self.best_score = score if np.isfinite(score) else self.best_score
                self.best_auc = val_auc if np.isfinite(val_auc) else self.best_auc
                self.best_weights, self.best_epoch = self.model.get_weights(), epoch + 1
            seconds = time.perf_counter() - self.epoch_started
            callbacks.on_epoch(EpochProgress(
                epoch + 1, epochs, self.history["loss"][-1], self.history["auc"][-1],
                self.history["val_loss"][-1], val_auc, seconds,
                seconds * (epochs - epoch - 1), float(self.best_auc), improved))
            if callbacks.cancel_requested():
                self.cancelled = self.model.stop_training = True

    return Adapter()


def _ensemble_members(config: TrainConfig) -> list[ModelBundle]:
    """Bundles to average with the model trained now. Their architecture, input size and data
    split settings are adopted, so every member is judged on the same validation patients."""
    if not config.ensemble_with:
        return []
    if config.init_from:
        raise PneumoError("Fine-tuning and ensembling cannot be combined in one run")
    members = [read_bundle(path) for path in config.ensemble_with]
    first = members[0].card
    for bundle in members:
        base, count = parse_architecture(bundle.card.architecture)
        if count != 1 or bundle.card.architecture != first.architecture \
                or bundle.card.input_size != first.input_size:
            raise PneumoError(f"{bundle.name}: ensemble members must be single models of one "
                              f"architecture and size ({first.architecture}, {first.input_size})")
    config.architecture, config.image_size = first.architecture, first.input_size
    adopt_split(config, members[0])
    used = {m.card.training.get("config", {}).get("init_seed") or
            m.card.training.get("config", {}).get("seed") for m in members}
    if config.init_seed is None or config.init_seed in used:
        config.init_seed = max(s for s in used | {config.seed} if s is not None) + 1
    return members


def adopt_split(config: TrainConfig, bundle: ModelBundle) -> None:
    """Take the patient-split settings of the run that trained `bundle`. Cards record how many
    holdout folders there were, not where (privacy): the same `--holdout` must be given."""
    split = bundle.card.training.get("config", {})
    for key in ("seed", "val_fraction", "test_fraction", "limit"):
        if key in split:
            setattr(config, key, split[key])
    recorded = split.get("holdout", [])
    if isinstance(recorded, list):  # cards written before paths were left out
        config.holdout = config.holdout or recorded
    elif recorded != len(config.holdout):
        raise PneumoError(f"{bundle.name} was trained with {recorded} holdout folder(s); pass "
                          f"the same --holdout to reproduce its patient split")


def card_config(config: TrainConfig) -> dict[str, Any]:
    """The run's settings for a model card: no paths (folder names can name patients)."""
    out = {**asdict(config), "learning_rate": resolve_learning_rate(config)}
    out["holdout"] = len(config.holdout)
    out["init_from"] = Path(config.init_from).name if config.init_from else None
    out["ensemble_with"] = len(config.ensemble_with)
    return out


def redacted_command(argv: list[str]) -> str:
    """The command line with every path replaced by DATA or DIR."""
    path_options = {"--out", "--init-from", "--holdout", "--ensemble-with", "--model"}
    out, previous = ["pneumo-desktop"], ""
    for i, arg in enumerate(argv):
        if previous in path_options:
            out.append("DIR")
        elif i == 0 or arg.startswith("-") or previous.startswith("-"):
            out.append(arg)  # the command, an option, or an option's value
        else:
            out.append("DATA")
        previous = arg
    return " ".join(out)


def resolve_parent(config: TrainConfig) -> tuple[TrainConfig, dict]:
    """A copy of `config` that adopts the parent bundle's architecture and input size when
    fine-tuning, and the preprocessing the run uses (the parent's, or the default)."""
    config = copy.deepcopy(config)
    if config.init_from:
        card = read_bundle(config.init_from).card
        config.architecture, config.image_size = card.architecture, card.input_size
        return config, dict(card.preprocessing)
    return config, {**DEFAULT_PREPROCESSING, "equalize": config.equalize}


def _initial_model(config: TrainConfig):
    """A fresh model, or a copy of a bundle's model to fine-tune, with its preprocessing."""
    from pneumo_desktop.model.architectures import build_model

    if config.init_from:
        from pneumo_desktop.training.recipe import apply_recipe

        bundle = read_bundle(config.init_from)
        config.architecture = bundle.card.architecture
        config.image_size = bundle.card.input_size
        model = bundle.load_keras_model()
        apply_recipe(model, config)
        config.augment_strength = config.fine_tune_augment_strength
        return model, dict(bundle.card.preprocessing), bundle
    return build_model(config.architecture, config.image_size), resolve_parent(config)[1], None


@contextlib.contextmanager
def _few_full_collections():
    """Keep the garbage collector from walking TensorFlow's many objects while training: each
    full collection holds the GIL for up to a few hundred ms, which stalls a GUI thread.
    Long-lived objects are frozen (again after the first step, which traces the graph) and
    full collections are made 100 times rarer until training ends."""
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], 1000))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def fit(model, data: PreparedData, config: TrainConfig, callbacks: TrainingCallbacks,
        val_key: str = "val", mixed: bool = False, monitor: str | None = "val_auc"):
    """Compile and fit `model`; restores the best weights. Returns the progress adapter.
    `mixed`: the model computes in float16 (see `model.precision`): the loss is scaled.
    `monitor`: "val_auc" or "val_loss" picks the best epoch and stops early; None: no
    validation, all `config.epochs` run and the last weights are kept."""
    from pneumo_desktop.model.backend import keras_module
    from pneumo_desktop.training.batches import (
        EpochFollower,
        evaluation_batches,
        training_batches,
    )

    keras = keras_module()
    train = data.caches["train"]
    val = data.caches[val_key] if monitor else None
    if not len(train.images):
        raise PneumoError("No training images left: every file was unreadable or refused")
    steps = int(np.ceil(len(train.images) / config.batch_size))
    if config.max_steps_per_epoch:
        steps = min(steps, config.max_steps_per_epoch)
    lr = keras.optimizers.schedules.CosineDecay(
        resolve_learning_rate(config), decay_steps=max(1, steps * config.epochs), alpha=0.05)
    optimizer = keras.optimizers.Adam(lr)
    if mixed:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.Precision(name="precision"),
                 keras.metrics.Recall(name="recall"),
                 keras.metrics.BinaryAccuracy(name="accuracy")])
    class_weight = None
    if config.class_weighting:
        n_pos = float(train.labels.sum())
        n_neg = float(len(train.labels) - n_pos)
        if n_pos and n_neg:
            total = n_pos + n_neg
            class_weight = {0: total / (2 * n_neg), 1: total / (2 * n_pos)}
    adapter = _progress_adapter(keras, callbacks, config.epochs, steps, config.batch_size,
                                monitor)
    stoppers = [] if monitor is None else [keras.callbacks.EarlyStopping(
        monitor, mode="min" if monitor == "val_loss" else "max", patience=config.patience)]
    with _few_full_collections():
        batches = training_batches(train, config)
        model.fit(batches,
                  validation_data=None if val is None else evaluation_batches(
                      val, config.batch_size),
                  epochs=config.epochs, class_weight=class_weight,
                  callbacks=[adapter, EpochFollower(batches), *stoppers], shuffle=False,
                  verbose=0)
    if adapter.cancelled:
        raise TrainingCancelled("Training cancelled; nothing was saved")
    if adapter.best_weights is not None:
        model.set_weights(adapter.best_weights)
    return adapter


def predict_logits(model, cache: ImageCache, batch_size: int = 64) -> np.ndarray:
    """The model's logits for every cached image."""
    from pneumo_desktop.model.backend import keras_module

    keras = keras_module()
    probe = keras.Model(model.inputs, model.get_layer(LOGIT_LAYER).output)
    return probe.predict(cache.images[..., None].astype(np.float32), batch_size=batch_size,
                         verbose=0)[:, 0].astype(np.float64)


def pooled_features(model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The pooled features (the input of the dense head) for (N, S, S) uint8 images."""
    from pneumo_desktop.model.architectures import FEATURES_LAYER
    from pneumo_desktop.model.backend import keras_module

    keras = keras_module()
    probe = keras.Model(model.inputs, model.get_layer(FEATURES_LAYER).output)
    return probe.predict(images[..., None].astype(np.float32), batch_size=batch_size,
                         verbose=0).astype(np.float64)


def evidence_of(model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class activation maps in logit units (`model.heatmaps.evidence_maps`) for (N, S, S)
    uint8 images."""
    from pneumo_desktop.model.architectures import FEATURES_LAYER
    from pneumo_desktop.model.backend import keras_module
    from pneumo_desktop.model.heatmaps import evidence_maps

    keras = keras_module()
    probe = keras.Model(model.inputs, model.get_layer(FEATURES_LAYER).input)
    weights = np.asarray(model.get_layer(LOGIT_LAYER).get_weights()[0]).reshape(-1)
    features = probe.predict(images[..., None].astype(np.float32), batch_size=batch_size,
                             verbose=0)
    return evidence_maps(features, weights)


def heat_scale_section(model, images: np.ndarray, flagged: np.ndarray, source: str
                       ) -> dict[str, Any]:
    """The card's `heatmap` section: the model's fixed heat-map scale, fitted on the cell
    evidence of the films it flags ({} when it flags none)."""
    from pneumo_desktop.model.heatmaps import fit_heat_scale

    if not np.any(flagged):
        return {}
    scale = fit_heat_scale(evidence_of(model, images), flagged, source)
    return scale.to_card() if scale else {}


def screen_with_learned_check(data: PreparedData, model, check,
                              callbacks: TrainingCallbacks) -> None:
    """Drop the films that the parent model's learned check refuses (another modality, a
    rotated film, a photo...) from every split, before fine-tuning: never learned from."""
    for name, cache in list(data.caches.items()):
        if not len(cache.samples):
            continue
        verdicts = check.assess(pooled_features(model, cache.images))
        keep = [i for i, v in enumerate(verdicts) if v is None]
        for i, verdict in enumerate(verdicts):
            if verdict is not None:
                path = cache.samples[i].path
                data.unreadable.append((path, f"{path.name}: {verdict.message}"))
                callbacks.on_message(f"skipped not a frontal chest film: {path.name}: "
                                     f"{verdict.message}")
        if len(keep) < len(cache.samples):
            data.caches[name] = subset(cache, keep)
            data.splits[name] = [cache.samples[i] for i in keep]


def fit_input_check(model, data: PreparedData, seed: int, callbacks: TrainingCallbacks):
    """The learned input check for `model`, fitted on the training split's films and cut on
    the validation split's (see `model.input_check.fit_learned_check`)."""
    from pneumo_desktop.model.input_check import fit_learned_check

    callbacks.on_message("fitting the learned input check (typicality and view)")
    check = fit_learned_check(lambda x: pooled_features(model, x), data.caches["train"].images,
                              data.caches["val"].images, seed=seed)
    callbacks.on_message(f"input check: {check.info['validation_refused']:.1%} of the "
                         "validation films refused; view accuracy "
                         + ", ".join(f"{k} {v:.3f}" for k, v in
                                     check.info["validation_view_accuracy"].items()))
    return check


def fold_calibration(model, a: float, b: float) -> None:
    """Make the model output sigmoid(a * logit + b): scale the last dense layer (CAMs unchanged
    up to the positive factor a)."""
    layer = model.get_layer(LOGIT_LAYER)
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * a, bias * a + b])


def summary(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "roc"}


def cross_validate(data_dir: str | Path, config: TrainConfig,
                   callbacks: TrainingCallbacks | None = None) -> dict[str, Any]:
    """Patient-level k-fold cross-validation of the configuration: mean ± sd of val AUC."""
    callbacks = callbacks or TrainingCallbacks()
    config, preprocessing = resolve_parent(config)  # folds fine-tune the same bundle
    scan = scan_data(data_dir, config)
    cache_all = build_cache(scan.samples, config.image_size, preprocessing,
                            progress=callbacks.on_cache_progress)
    aucs = []
    for i, (train_s, val_s) in enumerate(patient_folds(cache_all.samples, config.folds,
                                                       config.seed)):
        index = {s.path: j for j, s in enumerate(cache_all.samples)}
        fold = PreparedData(scan, {"train": train_s, "val": val_s}, {
            "train": subset(cache_all, [index[s.path] for s in train_s]),
            "val": subset(cache_all, [index[s.path] for s in val_s])}, [])
        model, _, _ = _initial_model(copy.deepcopy(config))
        fit(model, fold, config, callbacks)
        scores = metrics.sigmoid(predict_logits(model, fold.caches["val"]))
        aucs.append(metrics.roc_auc(fold.caches["val"].labels, scores))
        callbacks.on_message(f"fold {i + 1}/{config.folds}: validation AUC {aucs[-1]:.4f}")
    return {"folds": config.folds, "auc": aucs, "auc_mean": float(np.mean(aucs)),
            "auc_sd": float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0}


def subset(cache: ImageCache, idx: list[int]) -> ImageCache:
    return ImageCache(cache.images[idx], cache.labels[idx], [cache.samples[i] for i in idx], [])


def replace_config(config: TrainConfig, **changes) -> TrainConfig:
    return TrainConfig(**{**asdict(config), **changes})


def train(data_dir: str | Path, config: TrainConfig,
          callbacks: TrainingCallbacks | None = None, name: str = "model",
          data: PreparedData | None = None) -> TrainingResult:
    """Train (or fine-tune) a model and describe it in a model card (not yet saved)."""
    from pneumo_desktop.model.backend import device_description, keras_module

    keras = keras_module()
    callbacks = callbacks or TrainingCallbacks()
    config = copy.deepcopy(config)
    members = _ensemble_members(config)
    keras.utils.set_random_seed(config.seed if config.init_seed is None else config.init_seed)
    started = time.perf_counter()
    model, preprocessing, parent = _initial_model(config)
    if members:
        preprocessing = dict(members[0].card.preprocessing)
    data = data or prepare_data(data_dir, config, callbacks, preprocessing)
    if parent is not None and parent.has_learned_check:
        screen_with_learned_check(data, model, parent.learned_check(), callbacks)
    device = device_description()
    policy = precision.training_policy(config.precision, device)
    if policy != precision.FLOAT32:
        model = precision.with_policy(model, policy)
    callbacks.on_message(f"training {config.architecture} at {config.image_size} px on "
                         f"{device} ({policy})")
    try:
        adapter = fit(model, data, config, callbacks, mixed=policy == precision.MIXED)
    except Exception as exc:
        if precision.is_out_of_memory(exc):
            raise PneumoError(precision.out_of_memory_message(
                device, config.batch_size, config.image_size)) from None
        raise
    if policy != precision.FLOAT32:  # bundles are float32: any machine scores them alike
        model = precision.with_policy(model, precision.FLOAT32)
    ensemble_info = None
    if members:
        models = [m.load_keras_model() for m in members] + [model]
        member_auc = [metrics.roc_auc(data.caches["val"].labels,
                                      metrics.sigmoid(predict_logits(m, data.caches["val"])))
                      for m in models]
        model = merge_into_ensemble(models, config.architecture, config.image_size)
        ensemble_info = {"members": [{"name": m.name, "sha256": m.card.sha256} for m in members]
                         + [{"name": "trained in this run", "init_seed": config.init_seed}],
                         "member_validation_auc": member_auc}
        config.architecture = f"{config.architecture}_x{len(models)}"
        callbacks.on_message("members' validation AUC: "
                             + ", ".join(f"{a:.4f}" for a in member_auc))

    val = data.caches["val"]
    logits = predict_logits(model, val)
    raw_scores = metrics.sigmoid(logits)
    calibration: dict[str, Any] = {"method": "none",
                                   "ece_before": metrics.expected_calibration_error(
                                       val.labels, raw_scores)}
    if config.calibrate and config.shift_calibration:  # see training.shift_calibration
        from pneumo_desktop.training import shift_calibration as shift

        callbacks.on_message("scoring shifted copies of the validation and test films")
        sets = shift.shift_sets(lambda c: predict_logits(model, c), val, data.caches.get("test"),
                                config.image_size, preprocessing, logits)
        a, b = shift.fit_for_shift(val.labels, logits, sets["validation, shifted"][1])
        calibration.update(method="platt on the validation split and a shifted copy of it "
                                  "(folded into the logit layer)", a=a, b=b,
                           shift=shift.shift_section(a, b, sets))
    elif config.calibrate:
        a, b = metrics.fit_platt(val.labels, logits)
        calibration.update(method="platt (folded into the logit layer)", a=a, b=b)
    if config.calibrate:
        fold_calibration(model, a, b)
        logits = a * logits + b
    scores = metrics.sigmoid(logits)
    calibration["ece"] = metrics.expected_calibration_error(val.labels, scores)
    calibration["brier"] = float(np.mean((scores - val.labels) ** 2))
    threshold = metrics.threshold_for_sensitivity(val.labels, scores, config.target_sensitivity,
                                                  config.threshold_confidence)
    validation = summary(metrics.report(val.labels, scores, threshold))
    validation["best_epoch"] = adapter.best_epoch
    training_info: dict[str, Any] = {  # counts and summaries only: no paths, no file names
        "layout": data.scan.layout,
        "counts": {k: {"images": len(c.samples), "pneumonia": int(c.labels.sum()),
                       "patients": len({s.patient for s in c.samples})}
                   for k, c in data.caches.items()},
        "unreadable": len(data.unreadable),
        "holdout": {"folders": len(config.holdout)},
        "config": card_config(config),
        "epochs_run": len(adapter.history["loss"]),
        "stopped_by_user": adapter.stopped,
        "history": adapter.history,
        "seconds": round(time.perf_counter() - started, 1),
        "device": device,
        "backend": keras.backend.backend(),
        "precision": policy,
        "fine_tuned_from": parent.name if parent else None,
        "ensemble": ensemble_info,
        "command": redacted_command(sys.argv[1:]) if "train" in sys.argv else "",
    }
    card = ModelCard(
        name=name, architecture=config.architecture, input_size=config.image_size,
        threshold=threshold, preprocessing=preprocessing,
        threshold_rule={"method": "target_sensitivity", "target": config.target_sensitivity,
                        "split": "validation (patient-level)",
                        "confidence": config.threshold_confidence,
                        "rule": "highest threshold whose validation sensitivity reaches the "
                                "target" + ("" if config.threshold_confidence is None else
                                            " with its one-sided Wilson lower bound")},
        validation=validation, calibration=calibration, training=training_info)
    card.heatmap = heat_scale_section(model, val.images, scores >= threshold,
                                      "validation films the model flags")
    if "test" in data.caches and len(data.caches["test"].samples):
        test = data.caches["test"]
        card.training["test"] = summary(metrics.report(
            test.labels, metrics.sigmoid(predict_logits(model, test)), threshold))
    check = fit_input_check(model, data, config.seed, callbacks)
    card.reference = reference_section(
        logits, check.typicality(pooled_features(model, val.images)), val.labels,
        "validation split (patient-level) of the training run")
    return TrainingResult(model, card, adapter.history, val.labels, scores, adapter.stopped,
                          check)


def save_result(result: TrainingResult, out_dir: str | Path) -> ModelBundle:
    """Write the trained model and its learned input check as a bundle (atomically)."""
    return write_bundle(out_dir, result.model, result.card, result.learned_check)


def refit_input_check(data_dir: str | Path, bundle_path: str | Path,
                      callbacks: TrainingCallbacks | None = None,
                      holdout: list[str] | None = None) -> ModelBundle:
    """Fit (again) the learned input check of an existing bundle on the patient split its card
    describes, and store it in the bundle; the weights are not touched. Pass the same
    `--holdout` folders as the training run (their number is checked)."""
    from pneumo_desktop.model.bundle import attach_learned_check

    callbacks = callbacks or TrainingCallbacks()
    bundle = read_bundle(bundle_path, verify_check=False)  # its old check is being replaced
    config = TrainConfig(image_size=bundle.card.input_size, holdout=list(holdout or []))
    adopt_split(config, bundle)
    data = prepare_data(data_dir, config, callbacks, dict(bundle.card.preprocessing))
    check = fit_input_check(bundle.load_keras_model(), data, config.seed, callbacks)
    return attach_learned_check(bundle.path, check)


