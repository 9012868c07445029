"""The calls the compute process answers (see `compute.process`): loading models, scoring,
measuring training speed, training and saving. Each task takes a `CallContext` first; what it
returns or emits travels back pickled, so Keras models stay here and go back as handles."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pneumo_desktop.compute.process import CallContext
from pneumo_desktop.errors import PneumoError
from pneumo_desktop.model.bundle import ModelBundle
from pneumo_desktop.training.config import TrainingCallbacks, TrainingCancelled

MODELS_KEPT = 3  # loaded models kept ready (the active one, the batch's, one more)
RESULTS_KEPT = 2  # trained models kept until saved


@dataclass(frozen=True)
class ModelSpec:
    """Which bundle to score with, and how: the compute process loads it on first use (again
    after a restart), so a spec stays valid for the life of the app."""

    path: str
    batch_size: int = 16
    input_check: bool = True
    engine: str | None = None  # None: `default_engine()` (LiteRT unless PNEUMO_ENGINE says)


@dataclass
class LoadedModel:
    spec: ModelSpec
    bundle: ModelBundle
    device: str
    learned_check: bool


@dataclass(frozen=True)
class ResultHandle:
    """A trained Keras model kept in the compute process until `save_result`."""

    id: int


_load_lock = threading.Lock()
_result_ids = itertools.count(1)


def warm_up() -> None:
    """Import what scoring runs on as soon as the process starts: LiteRT (a tenth of a
    second), or TensorFlow when it is the engine. Training imports TensorFlow when it starts."""
    from pneumo_desktop.model.inference import default_engine, engine_device

    if default_engine() == "litert":
        import ai_edge_litert.interpreter  # noqa: F401
    else:
        engine_device(default_engine())


def predictor_for(ctx: CallContext, spec: ModelSpec):
    """The Predictor for `spec`, loaded once and kept (least recently used dropped first)."""
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.model.inference import Predictor

    with _load_lock:
        cache: OrderedDict = ctx.state.setdefault("predictors", OrderedDict())
        if spec in cache:
            cache.move_to_end(spec)
            return cache[spec]
        predictor = Predictor(read_bundle(spec.path), batch_size=spec.batch_size,
                              input_check=spec.input_check, engine=spec.engine)
        cache[spec] = predictor
        while len(cache) > MODELS_KEPT:
            cache.popitem(last=False)
        return predictor


def resolve_bundle_path(path: Path, fallback_dirs: list[Path] | None) -> Path:
    """`path`, or when it is missing the first usable bundle in `fallback_dirs`."""
    from pneumo_desktop.model.bundle import list_bundles

    if path.is_dir() or fallback_dirs is None:
        return path
    for found, entry in list_bundles(fallback_dirs):
        if isinstance(entry, ModelBundle):
            return found
    raise PneumoError(f"No model found: {path} is missing and no usable model is in "
                      f"{', '.join(str(d) for d in fallback_dirs)}")


def device(ctx: CallContext) -> str:
    """What scoring runs on: 'CPU (LiteRT)', or TensorFlow's device."""
    from pneumo_desktop.model.inference import default_engine, engine_device

    return engine_device(default_engine())


def load_model(ctx: CallContext, path: str, batch_size: int = 16,
               fallback_dirs: list[str] | None = None) -> LoadedModel:
    from pneumo_desktop.model.inference import engine_device

    resolved = resolve_bundle_path(Path(path), [Path(d) for d in fallback_dirs]
                                   if fallback_dirs is not None else None)
    spec = ModelSpec(str(resolved), batch_size)
    predictor = predictor_for(ctx, spec)
    return LoadedModel(spec, predictor.bundle, engine_device(predictor.engine),
                       predictor.learned_check is not None)


def _at_threshold(item, threshold: float):
    """Predictions decided at the caller's threshold (models are shared between callers)."""
    for name in ("prediction", "withheld"):
        prediction = getattr(item, name, None)
        if prediction is not None:
            prediction.threshold = threshold
    return item


def score_path(ctx: CallContext, spec: ModelSpec, path: str, image=None,
               threshold: float | None = None, include_patient: bool = False):
    """`Predictor.score_path`; the image goes back only when the caller did not send one."""
    predictor = predictor_for(ctx, spec)
    decoded, prediction = predictor.score_path(path, image=image,
                                               include_patient=include_patient)
    if threshold is not None:
        prediction.threshold = threshold
    return (None if image is not None else decoded), prediction


def score_files(ctx: CallContext, spec: ModelSpec, paths: list[str],
                threshold: float | None = None, heatmaps: bool = False) -> int:
    """`Predictor.score_files`, one "row" event per file; stops between batches on cancel."""
    predictor = predictor_for(ctx, spec)
    count = 0
    for item in predictor.score_files(paths, heatmaps=heatmaps, cancelled=ctx.cancelled):
        if threshold is not None:
            _at_threshold(item, threshold)
        ctx.emit("row", item)
        count += 1
    return count


def measure_speed(ctx: CallContext, architecture: str, image_size: int, batch_size: int,
                  steps: int = 3):
    from pneumo_desktop.training.session import measure_speed as measure

    return measure(architecture, image_size, batch_size, steps, cancelled=ctx.cancelled)


class _EventCallbacks(TrainingCallbacks):
    """Core training progress -> events; Stop and Cancel from the caller's signals."""

    def __init__(self, ctx: CallContext):
        self.ctx = ctx

    def on_message(self, text: str) -> None:
        self.ctx.emit("message", text)

    def on_cache_progress(self, done: int, total: int) -> None:
        self.ctx.emit("cache", (done, total))
        if self.cancel_requested():  # decoding a large folder takes a while: honour Cancel
            raise TrainingCancelled("Training cancelled; nothing was saved")

    def on_batch(self, progress) -> None:
        self.ctx.emit("batch", progress)

    def on_epoch(self, progress) -> None:
        self.ctx.emit("epoch", progress)

    def on_run(self, run: int, runs: int, title: str, epochs: int) -> None:
        self.ctx.emit("run", (run, runs, title, epochs))

    def stop_requested(self) -> bool:
        return self.ctx.signalled("stop")

    def cancel_requested(self) -> bool:
        return self.ctx.signalled("cancel")


def train(ctx: CallContext, folder: str, config, name: str, active_model: str | None):
    """`training_session.run_session`; the trained model stays here behind a ResultHandle."""
    from pneumo_desktop.training.session import run_session

    callbacks = _EventCallbacks(ctx)
    outcome = run_session(folder, config, name,
                          Path(active_model) if active_model else None, callbacks,
                          lambda stage: ctx.emit("stage", stage))
    outcome.result = dataclasses.replace(outcome.result, model=_keep(ctx, outcome.result.model))
    return outcome


def _keep(ctx: CallContext, model) -> ResultHandle:
    """Keep a Keras model here until `save_result`; the caller gets a handle."""
    results: OrderedDict = ctx.state.setdefault("results", OrderedDict())
    handle = ResultHandle(next(_result_ids))
    results[handle] = model
    while len(results) > RESULTS_KEPT:
        results.popitem(last=False)
    return handle


def calibrate(ctx: CallContext, folder: str, model: str, target: float = 0.95, folds: int = 5,
              name: str = "model"):
    """`local_calibration.recalibrate` for the wizard (no training): the recalibrated model
    stays here behind a ResultHandle, its cross-validated scores and the active model's on
    the same studies go back as a TrainingOutcome."""
    import numpy as np

    from pneumo_desktop.training.config import TrainingResult
    from pneumo_desktop.training.local_calibration import recalibrate
    from pneumo_desktop.training.session import ActiveComparison, TrainingOutcome

    def progress(done: int, total: int) -> None:
        ctx.emit("cache", (done, total))
        if ctx.signalled("cancel"):
            raise TrainingCancelled("Cancelled; nothing was saved")

    ctx.emit("stage", "scoring")
    done = recalibrate(folder, model, target=target, folds=folds, name=name,
                       log=lambda text: ctx.emit("message", text), progress=progress)
    active = done.card.local["active_model"]
    result = TrainingResult(_keep(ctx, done.model), done.card, {},
                            done.labels.astype(np.float32), done.scores,
                            learned_check=done.learned_check)
    return TrainingOutcome(result, ActiveComparison(active["name"], active["threshold"],
                                                    done.labels.astype(np.float32),
                                                    done.active_scores),
                           len(done.labels), done.patients, source="cross-validated")


def save_result(ctx: CallContext, result, folder: str) -> str:
    """Write a trained model (kept here since `train`) with `result`'s card as a bundle,
    atomically, and read it back to verify it."""
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.training.train import save_result as save

    model = ctx.state.get("results", {}).get(result.model)
    if model is None:
        raise PneumoError("The trained model is no longer in memory (the compute process "
                          "restarted, or two newer models were trained since): train it again")
    bundle = save(dataclasses.replace(result, model=model), folder)
    read_bundle(bundle.path)
    return str(bundle.path)


def recalibrate_on_reads(ctx: CallContext, *args, **kwargs):
    """"Recalibrate on my reads" (`compute.recalibration`)."""
    from pneumo_desktop.compute.recalibration import recalibrate_on_reads as run

    return run(ctx, _keep, *args, **kwargs)


TASKS: dict[str, Any] = {
    "device": device,
    "load_model": load_model,
    "score_path": score_path,
    "score_files": score_files,
    "measure_speed": measure_speed,
    "train": train,
    "calibrate": calibrate,
    "save_result": save_result,
    "recalibrate_on_reads": recalibrate_on_reads,
}
