"""A `Predictor` that scores in the compute process: same methods the GUI uses, no TensorFlow in
the calling process (see `compute.process`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pneumo_desktop.compute.process import ComputeProcess
from pneumo_desktop.compute.tasks import LoadedModel
from pneumo_desktop.errors import PneumoError
from pneumo_desktop.imaging.image_io import XRayImage
from pneumo_desktop.model.inference import Prediction, ScoredFile

POLL_SECONDS = 0.1  # how often a waiting call looks at its caller's cancel flag


def load_remote(process: ComputeProcess, path: str | Path, *, batch_size: int = 16,
                threshold: float | None = None,
                fallback_dirs: list[Path] | None = None) -> RemotePredictor:
    """Load a bundle in the compute process (`fallback_dirs`: used when `path` is missing)."""
    loaded = process.call("load_model", str(path), batch_size,
                          [str(d) for d in fallback_dirs] if fallback_dirs is not None
                          else None).result()
    return RemotePredictor(process, loaded, threshold)


class RemotePredictor:
    """Scores with a model loaded in the compute process; decides at its own threshold."""

    def __init__(self, process: ComputeProcess, loaded: LoadedModel,
                 threshold: float | None = None):
        self.process = process
        self.spec = loaded.spec
        self.bundle = loaded.bundle
        self.device = loaded.device
        self.has_learned_check = loaded.learned_check
        self.batch_size = loaded.spec.batch_size
        self.set_threshold(self.bundle.card.threshold if threshold is None else threshold)

    def set_threshold(self, threshold: float) -> None:
        """Decide at `threshold` from now on (an override of the model's operating point)."""
        threshold = float(threshold)
        if not 0.0 < threshold < 1.0:
            raise PneumoError(f"Threshold {threshold} must be between 0 and 1")
        self.threshold = threshold

    def score_path(self, path: str | os.PathLike, *, image: XRayImage | None = None,
                   include_patient: bool = False) -> tuple[XRayImage, Prediction]:
        """As `Predictor.score_path`: a full-resolution heat map and the input check's verdict."""
        decoded, prediction = self.process.call(
            "score_path", self.spec, str(path), image, self.threshold,
            include_patient).result()
        return (image if image is not None else decoded), prediction

    def score_files(self, paths: Iterable[str | os.PathLike], *, heatmaps: bool = False,
                    cancelled: Callable[[], bool] = lambda: False) -> Iterator[ScoredFile]:
        """As `Predictor.score_files`: one result per file, in order; `cancelled()` stops the
        work after the batch being scored (the rows already scored still arrive)."""
        call = self.process.call("score_files", self.spec, [str(p) for p in paths],
                                 self.threshold, heatmaps)
        asked = False
        try:
            for kind, payload in call.events(idle=POLL_SECONDS):
                if not asked and cancelled():
                    call.cancel()
                    asked = True
                if kind == "row":
                    yield payload
        finally:  # the caller stopped iterating (or the call ended): stop the work too
            if not call.finished:
                call.cancel()
