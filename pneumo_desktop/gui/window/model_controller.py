"""The window's model: loading and switching bundles (in a worker; the model itself lives in the
compute process), the decision threshold in force, and the model and threshold status labels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from pneumo_desktop.gui.viewer.result_panel import WARNING_STYLE, percent
from pneumo_desktop.gui.window.model_loader import ModelLoader

if TYPE_CHECKING:
    from pneumo_desktop.gui.window.main_window import MainWindow
    from pneumo_desktop.model.bundle import ModelCard
    from pneumo_desktop.model.inference import Predictor


class ModelController(QObject):
    """Which model scores, and at which threshold; tells the other controllers when it changes."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.predictor: Predictor | None = None
        self.device = ""
        self.error = ""
        self.loading_path: Path | None = None
        self._request = 0

    # -- state ---------------------------------------------------------------------------------
    @property
    def is_ready(self) -> bool:
        return self.predictor is not None

    @property
    def is_loading(self) -> bool:
        return self.loading_path is not None

    @property
    def name(self) -> str:
        return self.predictor.bundle.name if self.predictor else ""

    @property
    def path(self) -> Path | None:
        return self.predictor.bundle.path if self.predictor else None

    @property
    def card(self) -> ModelCard | None:
        return self.predictor.bundle.card if self.predictor else None

    @property
    def threshold(self) -> float:
        """The threshold in force: the override when set, else the model's."""
        override = self.window.settings.threshold_override
        if override is not None:
            return override
        return self.card.threshold if self.card else 0.5

    # -- loading -------------------------------------------------------------------------------
    def load(self, path: str | Path, fallback: bool = False) -> None:
        """Load a bundle in a worker thread; `modelReady` or `modelFailed` follows."""
        window = self.window
        self._request += 1
        self.loading_path = Path(path)
        self.update_status()
        loader = ModelLoader(self._request, path, batch_size=window.batch_size,
                             fallback_dirs=window.model_dirs if fallback else None)
        loader.loaded.connect(self._loaded)
        loader.failed.connect(self._failed)
        window.pool.start(loader, "model-loader")

    def switch(self, path: str | Path) -> None:
        """Make `path` the active model (remembered for the next start)."""
        self.window.settings.active_model = str(path)
        self.load(path)

    @Slot(int, object, str)
    def _loaded(self, request: int, predictor: Predictor, device: str) -> None:
        window = self.window
        if request != self._request or window.closing:
            return
        previous = self.predictor
        self.predictor, self.device = predictor, device
        if window.intake is not None:
            window.intake.set_predictor(predictor)
        if previous is not None and previous.bundle.path != predictor.bundle.path:
            window.records.record("model_switch",
                                  f"{previous.bundle.name} -> {predictor.bundle.name}",
                                  model=predictor.bundle.name)
        self.loading_path, self.error = None, ""
        predictor.set_threshold(self.threshold)
        window.result_panel.set_model(predictor.bundle.card, self.threshold, device)
        self.update_status()
        window.update_actions()
        window.statusBar().showMessage(f"Model {predictor.bundle.name} ready on {device}", 5000)
        window.modelReady.emit(predictor.bundle.name)
        window.study.model_changed()
        window.batch.start_pending()

    @Slot(int, str, str)
    def _failed(self, request: int, path: str, message: str) -> None:
        window = self.window
        if request != self._request or window.closing:
            return
        self.loading_path, self.error = None, message
        self.update_status()
        window.update_actions()
        if self.predictor is None:
            window.result_panel.set_model(None, self.threshold,
                                          "No model loaded: choose one with Model → Models… "
                                          "(Ctrl+M)")
            window.result_panel.show_error(f"No model: {message}")
            window.batch.drop_pending()
        else:
            window.warn("Model not changed",
                        f"{message}\n\nStill using {self.predictor.bundle.name}.")
        window.modelFailed.emit(message)

    # -- threshold -----------------------------------------------------------------------------
    def set_threshold_override(self, value: float | None) -> None:
        """Use `value` instead of the model's threshold (None: back to the model's)."""
        window = self.window
        before = self.threshold
        window.settings.threshold_override = value
        threshold = self.threshold
        if threshold != before:
            window.records.record("threshold_change", f"{before:.4f} -> {threshold:.4f}" + (
                "" if value is not None else " (back to the model's)"), threshold=threshold)
        if self.predictor is not None:
            self.predictor.set_threshold(threshold)
        window.batch_model.set_threshold(threshold)
        window.batch_panel.update_summary()
        window.study.threshold_changed(threshold)
        self.update_threshold_status()

    # -- status bar ----------------------------------------------------------------------------
    def update_status(self) -> None:
        label = self.window.model_status
        if self.loading_path is not None:
            text = f"Model: loading {self.loading_path.name}…"
            style = "color:#8a6d00;"
        elif self.predictor is not None:
            text = f"Model: {self.predictor.bundle.name} · {self.device} · ready"
            style = "color:#1b5e20;"
        else:
            text = "No model (Ctrl+M)"
            style = "color:#b71c1c;"
        label.setText(text)
        label.setStyleSheet(style)
        if self.error:
            label.setToolTip(self.error)
        self.update_threshold_status()

    def update_threshold_status(self) -> None:
        label = self.window.threshold_status
        card, threshold = self.card, self.threshold
        if card is not None and abs(threshold - card.threshold) > 1e-9:
            label.setText(f"⚠ Threshold {percent(threshold)} "
                          f"(model's: {percent(card.threshold)})")
            label.setStyleSheet(WARNING_STYLE)
            label.setToolTip("Your threshold replaces the model's validated one "
                             "(Preferences, Ctrl+,)")
        else:
            label.setText(f"Threshold {percent(threshold)}" if card else "")
            label.setStyleSheet("")
            label.setToolTip("The model's validated decision threshold")
