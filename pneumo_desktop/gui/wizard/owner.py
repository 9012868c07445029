"""What the wizard's pages ask of the wizard that holds them: its state and the jobs it starts.

The pages import this protocol, never `wizard.TrainingWizard`, so imports run one way: the
wizard imports its pages, the pages know only this contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWizardPage

    from pneumo_desktop.gui.wizard.data_page import DataPage
    from pneumo_desktop.gui.wizard.evaluation_page import EvaluationPage
    from pneumo_desktop.model.bundle import ModelCard
    from pneumo_desktop.training.config import TrainConfig
    from pneumo_desktop.training.session import TrainingOutcome


class WizardOwner(Protocol):
    """The training wizard as its pages see it (`TrainingWizard` implements it)."""

    active_model: Path | None  # the bundle to check or fine-tune (None: none usable)
    active_card: ModelCard | None
    active_error: str | None  # why the active model cannot be used
    models_dir: Path  # where the new model is saved
    outcome: TrainingOutcome | None  # the last training's result, None until one succeeds
    training_running: bool
    data_page: DataPage
    evaluation_page: EvaluationPage

    def currentPage(self) -> QWizardPage: ...  # noqa: N802 (Qt's name)

    def check_folder(self, folder: Path, config: TrainConfig) -> None: ...

    def measure_speed(self, architecture: str, image_size: int, batch_size: int) -> None: ...

    def start_training(self) -> bool: ...

    def request_stop(self) -> None: ...

    def request_cancel(self) -> None: ...

    def save_model(self, name: str, make_active: bool) -> None: ...
