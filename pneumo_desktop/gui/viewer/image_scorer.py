"""Opening one study in the viewer: decode it at full resolution and, given a model, score it
with its heat map, in a worker thread (`ImageScorer`); `ImageResult` is what the window shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Signal

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.imaging import heat_layer
from pneumo_desktop.gui.workers import Worker
from pneumo_desktop.imaging.image_io import XRayImage, load_xray

if TYPE_CHECKING:
    from pneumo_desktop.compute.remote_predictor import RemotePredictor
    from pneumo_desktop.model.inference import Prediction, Predictor

    AnyPredictor = Predictor | RemotePredictor  # in-process (CLI, tests) or compute process


@dataclass
class ImageResult:
    """One study opened in the viewer: the full-resolution image and, once scored, its result.

    A prediction with a `refusal` (the input check objected) is withheld from the screen until
    the user chooses "Score anyway" (`forced`); its score and heat map are computed either way.
    """

    request: int
    path: Path
    image: XRayImage
    prediction: Prediction | None = None
    heat: np.ndarray | None = None  # RGBA heat-map layer (see gui.imaging.heat_layer); None
    # below the model's display rule (no region raised the score)
    relative_heat: np.ndarray | None = None  # the per-film view, shown only on request
    forced: bool = False  # the user chose "Score anyway" for a refused study

    @property
    def withheld(self) -> bool:
        """Scored, refused by the input check, and not (yet) shown anyway."""
        return (self.prediction is not None and self.prediction.refusal is not None
                and not self.forced)


def score_image(predictor: AnyPredictor, path: Path, image: XRayImage) -> Prediction:
    """Score a study exactly as batch scoring does, so the viewer and the table agree (the
    input check's verdict included, in `Prediction.refusal`)."""
    return predictor.score_path(path, image=image)[1]


class ImageScorer(Worker):
    """Decodes a study at full resolution and, given a model, scores it with a heat map (also
    when the input check refuses it: the GUI decides what to show)."""

    scored = Signal(object)  # ImageResult
    failed = Signal(int, str, str)  # request, path, message

    def __init__(self, request: int, path: str | Path, predictor: AnyPredictor | None, *,
                 include_patient: bool = False, image: XRayImage | None = None):
        super().__init__()
        self.request = request
        self.path = Path(path)
        self.predictor = predictor
        self.include_patient = include_patient
        self.image = image

    def work(self) -> None:
        try:
            image = self.image or load_xray(self.path, include_patient=self.include_patient)
            result = ImageResult(self.request, self.path, image)
            if self.predictor is not None:
                result.prediction = score_image(self.predictor, self.path, image)
                prediction = result.prediction
                if prediction.heatmap is not None and prediction.heatmap_shown:
                    result.heat = heat_layer(prediction.heatmap)
                relative = prediction.relative_heatmap(image.pixels.shape)
                if relative is not None:
                    result.relative_heat = heat_layer(relative)
        except PneumoError as exc:
            self.failed.emit(self.request, str(self.path), str(exc))
        except Exception as exc:
            self.failed.emit(self.request, str(self.path),
                             f"{self.path.name}: cannot be scored ({type(exc).__name__}: {exc})")
        else:
            self.scored.emit(result)

