"""The study on screen: opening and scoring it (in a worker), showing its score and heat map or
the input check's refusal, "Score anyway", the heat-map layer and the viewer's status text."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from pneumo_desktop.gui.viewer.image_scorer import ImageResult, ImageScorer
from pneumo_desktop.gui.viewer.result_panel import (
    OUTSIDE_STYLE,
    REFUSED_STYLE,
    outside_use_text,
    percent,
    refused_text,
)

if TYPE_CHECKING:
    from pneumo_desktop.gui.window.main_window import MainWindow


class StudyController(QObject):
    """Drives the viewer and the result panel for one study at a time; a newer request (another
    study, another model) supersedes the one in flight."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.current: ImageResult | None = None
        self.current_path: Path | None = None
        self._request = 0
        window.result_panel.opacityChanged.connect(self._opacity_changed)
        window.viewer.zoomChanged.connect(self._zoom_changed)
        window.viewer.windowLevelChanged.connect(self._window_level_changed)

    @property
    def withheld(self) -> bool:
        """The study on screen was refused by the input check and is not shown anyway."""
        return self.current is not None and self.current.withheld

    # -- opening and scoring -------------------------------------------------------------------
    def open(self, path: str | Path) -> None:
        """Show a study and score it with a heat map (asynchronously; `imageScored` follows)."""
        window = self.window
        path = Path(path)
        self._request += 1
        self.current_path = path
        window.settings.last_image_dir = str(path.parent)
        window.result_panel.show_waiting(f"Opening {path.name}…")
        window.statusBar().showMessage(f"Opening {path.name}…")
        worker = ImageScorer(self._request, path, window.models.predictor,
                             include_patient=window.patient_action.isChecked())
        worker.scored.connect(self._scored)
        worker.failed.connect(self._failed)
        window.pool.start(worker, "image-scorer")

    def _score_current(self) -> None:
        """Score the image on screen again (new model), keeping zoom and contrast."""
        window = self.window
        current = self.current
        self._request += 1
        window.result_panel.show_waiting("Scoring…")
        worker = ImageScorer(self._request, current.path, window.models.predictor,
                             image=current.image)
        worker.scored.connect(self._scored)
        worker.failed.connect(self._failed)
        window.pool.start(worker, "image-scorer")

    def model_changed(self) -> None:
        """A new model is ready: score the study on screen (or being opened) with it."""
        if self.current is not None and self.current.path == self.current_path:
            self._score_current()  # the study on screen, with the new model
        elif self.current_path is not None:
            self.open(self.current_path)  # a study was being opened meanwhile
        else:
            self.window.result_panel.clear()

    def threshold_changed(self, threshold: float) -> None:
        if self.current is not None and self.current.prediction is not None:
            self.current.prediction = dataclasses.replace(self.current.prediction,
                                                          threshold=threshold)
        self.window.result_panel.set_threshold(threshold)

    @Slot(object)
    def _scored(self, result: ImageResult) -> None:
        window = self.window
        if result.request != self._request or window.closing:
            return  # a newer request superseded this one
        same_image = self.current is not None and result.image is self.current.image
        self.current = result
        if not same_image:
            window.viewer.set_image(result.image.pixels)
            window.result_panel.show_study(result.path, result.image.format,
                                           result.image.pixels.shape, result.image.metadata)
            window.setWindowTitle(f"Pneumo Desktop — {result.path.name}")
            window.imageOpened.emit(str(result.path))
        window.update_actions()
        if result.prediction is None:
            window.viewer.set_heatmap(None)
            window.viewer.set_banner("")
            if window.models.predictor is not None:  # the model became ready while decoding
                self._score_current()
                return
            window.result_panel.show_waiting(
                "The model is still loading; the result appears as soon as it is ready."
                if window.models.is_loading else
                "No model is loaded, so the image was not scored (Model → Models…, Ctrl+M).")
            window.statusBar().showMessage(f"Opened {result.path.name}", 4000)
            return
        threshold = window.models.threshold
        if result.prediction.threshold != threshold:
            result.prediction = dataclasses.replace(result.prediction, threshold=threshold)
        self._show_current()

    def _show_current(self) -> None:
        """The scored study on screen: withheld with the input check's reason, or its score and
        heat map (marked outside intended use when scored anyway)."""
        window = self.window
        result = self.current
        prediction, name = result.prediction, result.path.name
        window.update_actions()
        if result.withheld:
            refusal = prediction.refusal
            window.viewer.set_heatmap(None)
            window.viewer.set_banner(refused_text(refusal), REFUSED_STYLE)
            window.result_panel.show_refused(refusal)
            window.statusBar().showMessage(f"{name}: {refusal.message}", 8000)
            window.imageRefused.emit(str(result.path), refusal.reason)
            return
        window.viewer.set_heatmap(result.heat)
        window.viewer.set_heatmap_visible(window.heatmap_action.isChecked())
        window.viewer.set_banner(outside_use_text(prediction), OUTSIDE_STYLE)
        window.result_panel.show_prediction(prediction)
        mark = " — outside what the model was made for" if prediction.refusal else ""
        if not prediction.heatmap_shown:
            mark += " · no heat map: no region raised the score"
        window.statusBar().showMessage(f"{name}: probability {percent(prediction.probability)}"
                                       f"{mark}", 5000)
        window.imageScored.emit(str(result.path), prediction.probability)

    def show_relative_heatmap(self, relative: bool) -> None:
        """The per-film (relative) map instead of the model's fixed scale, on request."""
        result = self.current
        if result is None or result.prediction is None or result.withheld:
            return
        self.window.viewer.set_heatmap(result.relative_heat if relative else result.heat)
        self.window.viewer.set_heatmap_visible(self.window.heatmap_action.isChecked())

    def score_anyway(self) -> bool:
        """Show the withheld score and heat map of the refused study on screen (no new model
        run), marked as outside what the model was made for, and reveal its batch row too.
        False when the study on screen is not one the input check refused."""
        result = self.current
        if result is None or not result.withheld:
            return False
        result.forced = True
        prediction = result.prediction
        window = self.window
        window.records.record("score_anyway", prediction.outside_use_note, path=result.path,
                              probability=prediction.probability,
                              threshold=prediction.threshold)
        if window.batch_model.score_anyway(result.path, prediction):
            window.batch_panel.update_summary()
        self._show_current()
        return True

    @Slot(int, str, str)
    def _failed(self, request: int, path: str, message: str) -> None:
        window = self.window
        if request != self._request or window.closing:
            return
        if self.current is None or str(self.current.path) != path:
            self.current = None
            window.viewer.clear()
            window.result_panel.clear()
            window.setWindowTitle("Pneumo Desktop")
        window.result_panel.show_error(message)
        window.update_actions()
        window.statusBar().showMessage(message, 8000)
        window.imageFailed.emit(path, message)

    # -- heat map, patient identity, next study ------------------------------------------------
    def set_heatmap_visible(self, visible: bool) -> None:
        """Show or hide the heat-map layer (H)."""
        window = self.window
        window.viewer.set_heatmap_visible(visible)
        window.heatmap_action.setChecked(visible)
        window.result_panel.heatmap_toggle.setChecked(visible)
        window.settings.overlay_visible = visible

    @Slot(float)
    def _opacity_changed(self, opacity: float) -> None:
        self.window.viewer.set_heatmap_opacity(opacity)
        self.window.settings.overlay_opacity = opacity

    def step_opacity(self, delta: float) -> None:
        viewer = self.window.viewer
        self.window.result_panel.set_opacity(min(1.0, max(0.0, viewer.heatmap_opacity + delta)))

    def show_patient_toggled(self, shown: bool) -> None:
        if self.current is not None and self.current.image.format == "DICOM":
            self.open(self.current.path)

    def step_study(self, delta: int) -> None:
        path = self.window.batch_panel.step(delta)
        if path:
            self.open(path)

    # -- status bar ----------------------------------------------------------------------------
    @Slot(float)
    def _zoom_changed(self, zoom: float) -> None:
        self._update_view_status()

    @Slot(float, float)
    def _window_level_changed(self, window: float, level: float) -> None:
        self._update_view_status()

    def _update_view_status(self) -> None:
        viewer, label = self.window.viewer, self.window.view_status
        if not viewer.has_image:
            label.setText("")
            return
        window, level = viewer.window_level
        label.setText(f"Zoom {viewer.zoom * 100:.0f} % · W {window:.0f} L {level:.0f}")
