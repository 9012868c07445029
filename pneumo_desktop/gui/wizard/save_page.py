"""Step 5 of the training wizard: name the model, save it (in a worker, atomically) and
optionally make it the active model.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from pneumo_desktop.evaluation import metrics
from pneumo_desktop.evaluation.figures_source import threshold_percent
from pneumo_desktop.gui.wizard.owner import WizardOwner
from pneumo_desktop.gui.wizard.training_worker import (
    CHOSEN_RULE,
    model_name_problem,
)
from pneumo_desktop.gui.wizard.widgets import (
    ERROR_STYLE,
    hint,
    pct,
)


class SavePage(QWizardPage):
    """Name the model, save it (atomically) and optionally make it active."""

    def __init__(self, owner: WizardOwner):
        super().__init__()
        self.owner = owner
        self.setObjectName("savePage")
        self.setTitle("Step 5 of 5 — Save the model")
        self.setSubTitle("The model is saved with its description (model card), the threshold "
                         "and how it was trained.")
        self.setButtonText(QWizard.WizardButton.FinishButton, "Save model")
        self.saving = False
        self.saved_path: str | None = None

        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("modelNameEdit")
        self.name_edit.textChanged.connect(self._name_changed)
        form.addRow("Name:", self.name_edit)
        self.where = hint("")
        self.where.setObjectName("saveFolderLabel")
        form.addRow("", self.where)
        layout.addLayout(form)
        self.problem = QLabel("")
        self.problem.setObjectName("nameProblem")
        self.problem.setStyleSheet(ERROR_STYLE)
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        self.summary = QLabel("")
        self.summary.setObjectName("saveSummary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.active_check = QCheckBox("Use this model for scoring from now on")
        self.active_check.setObjectName("makeActiveCheck")
        layout.addWidget(self.active_check)
        self.active_note = hint("")
        layout.addWidget(self.active_note)
        self.status = QLabel("")
        self.status.setObjectName("saveStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        outcome = self.owner.outcome
        if outcome is None:
            return
        self.saved_path = None
        card = outcome.result.card
        if not self.name_edit.text():
            active = self.owner.active_card
            base = (f"{active.name}-recalibrated" if card.training.get("calibrated_from")
                    and active else f"{active.name}-tuned" if card.training.get(
                        "fine_tuned_from") and active else card.architecture)
            self.name_edit.setText(f"{base}-{datetime.now():%Y-%m-%d-%H%M}")
        evaluation = self.owner.evaluation_page
        matrix = metrics.confusion(outcome.result.val_labels, outcome.result.val_scores,
                                   evaluation.threshold)
        (tn, fp), (fn, tp) = matrix
        rule = (CHOSEN_RULE if evaluation.threshold_changed else
                f"suggested for {evaluation.target * 100:.0f} % sensitivity")
        auc = metrics.roc_auc(outcome.result.val_labels, outcome.result.val_scores)
        self.summary.setText(
            f"{card.architecture}, {card.input_size} px · "
            + ("AUC on your images (out of fold)" if outcome.source == "cross-validated"
               else "validation AUC") + f" {auc:.3f} · threshold "
            f"{threshold_percent(evaluation.threshold)} ({rule}): sensitivity "
            f"{pct(tp / max(tp + fn, 1))}, specificity {pct(tn / max(tn + fp, 1))}.")
        comparison = outcome.comparison
        better = True
        if comparison is not None and comparison.scores is not None:
            better = auc >= metrics.roc_auc(comparison.labels, comparison.scores)
        self.active_check.setChecked(better)
        self.active_note.setText(
            "Checked because the new model did at least as well as the active one on the "
            "same images." if better and comparison is not None else
            "Not checked: the active model did better on the same images." if not better
            else "You can also switch models later in the model manager.")
        self.status.setText("")
        self._name_changed()

    def _name_changed(self) -> None:
        name = self.name_edit.text()
        self.where.setText(f"Saved to: {self.owner.models_dir / name.strip()}")
        self.problem.setText(model_name_problem(name, self.owner.models_dir) or "")
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return (not self.saving and self.owner.outcome is not None
                and model_name_problem(self.name_edit.text(), self.owner.models_dir) is None)

    def validatePage(self) -> bool:  # noqa: N802 (Qt override)
        """Finish: save first (in a worker); the wizard closes once the model is written."""
        if self.saved_path:
            return True
        self.owner.save_model(self.name_edit.text(), self.active_check.isChecked())
        return False

    def set_saving(self, saving: bool, text: str = "", error: bool = False) -> None:
        self.saving = saving
        self.status.setStyleSheet(ERROR_STYLE if error else "")
        self.status.setText(text)
        self.completeChanged.emit()
