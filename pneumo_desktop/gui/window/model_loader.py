"""Loading a model bundle for the window, in a worker thread: the bundle is loaded in the compute
process, which owns TensorFlow; the window gets a `RemotePredictor` for it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.workers import Worker


class ModelLoader(Worker):
    """Loads a bundle in the compute process (which owns TensorFlow: nothing here imports it)
    and emits a `RemotePredictor` for it.

    When `path` does not exist and `fallback_dirs` are given, the first usable bundle found
    there is loaded instead (a fresh install without the shipped model still starts).
    """

    loaded = Signal(int, object, str)  # request, RemotePredictor, device description
    failed = Signal(int, str, str)  # request, bundle path, message

    def __init__(self, request: int, path: str | Path, *, batch_size: int = 16,
                 threshold: float | None = None, fallback_dirs: list[Path] | None = None):
        super().__init__()
        self.request = request
        self.path = Path(path)
        self.batch_size = batch_size
        self.threshold = threshold
        self.fallback_dirs = fallback_dirs

    def work(self) -> None:
        from pneumo_desktop.compute.process import shared_process
        from pneumo_desktop.compute.remote_predictor import load_remote

        try:
            predictor = load_remote(shared_process(), self.path, batch_size=self.batch_size,
                                    threshold=self.threshold, fallback_dirs=self.fallback_dirs)
        except PneumoError as exc:
            self.failed.emit(self.request, str(self.path), str(exc))
        except Exception as exc:  # a broken install or model must not take the app down
            self.failed.emit(self.request, str(self.path),
                             f"{self.path.name}: the model cannot be loaded "
                             f"({type(exc).__name__}: {exc})")
        else:
            self.loaded.emit(self.request, predictor, predictor.device)

