"""Step 4 of the training wizard: ROC curve, confusion matrix and threshold slider on images
the model did not learn from, compared with the active model.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from pneumo_desktop.evaluation import metrics
from pneumo_desktop.evaluation.figures_source import threshold_percent
from pneumo_desktop.gui.wizard.owner import WizardOwner
from pneumo_desktop.gui.wizard.plots import RocPlot, titled
from pneumo_desktop.gui.wizard.widgets import (
    DEFAULTS,
    ERROR_STYLE,
    HINT_STYLE,
    fill_table,
    hint,
    pct,
    read_only_table,
)


def _ci(values) -> str:
    low, high = values
    return f"95 % CI {low * 100:.0f}–{high * 100:.0f} %"


def local_summary(local: dict) -> str:
    """The card's cross-validated figures on the clinic's studies, and the active model's on the
    same studies, as HTML sentences for the evaluation page ('' without a `local` section)."""
    if not local:
        return ""
    text = (f"<br><br><b>Expected on new studies from your hospital</b> at the suggested "
            f"threshold (cross-validated): sensitivity <b>{pct(local['sensitivity'])}</b> "
            f"({_ci(local['sensitivity_ci95'])}), specificity "
            f"<b>{pct(local['specificity'])}</b> ({_ci(local['specificity_ci95'])}).")
    active = local.get("active_model") or {}
    if "sensitivity" in active:
        text += (f" The active model at its own threshold, on the same images: sensitivity "
                 f"{pct(active['sensitivity'])}, specificity {pct(active['specificity'])}.")
    for warning in local.get("warnings", []):
        text += f"<br><span style='{ERROR_STYLE}'>⚠ {html.escape(warning)}.</span>"
    return text


def _operating_point(labels: np.ndarray, scores: np.ndarray,
                     threshold: float) -> tuple[float, float]:
    """(1 − specificity, sensitivity) at `threshold`."""
    (tn, fp), (fn, tp) = metrics.confusion(labels, scores, threshold)
    return 1 - tn / max(tn + fp, 1), tp / max(tp + fn, 1)


class ConfusionGrid(QWidget):
    """The 2 × 2 table of outcomes at the chosen threshold, in words."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("confusionGrid")
        grid = QGridLayout(self)
        grid.setSpacing(3)
        grid.setContentsMargins(0, 0, 0, 0)
        for col, text in enumerate(("Model says<br>PNEUMONIA", "Model says<br>NORMAL"),
                                   start=1):
            grid.addWidget(self._header(text), 0, col)
        for row, text in enumerate(("Truly PNEUMONIA", "Truly NORMAL"), start=1):
            grid.addWidget(self._header(text), row, 0)
        self.cells: dict[str, QLabel] = {}
        for key, row, col, good in (("tp", 1, 1, True), ("fn", 1, 2, False),
                                    ("fp", 2, 1, False), ("tn", 2, 2, True)):
            cell = QLabel()
            cell.setObjectName(f"confusion_{key}")
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cell.setMinimumSize(130, 52)
            cell.setStyleSheet(f"background:{'#e3f2e1' if good else '#fbe4e2'};"
                               "border:1px solid #bbb; border-radius:3px;")
            grid.addWidget(cell, row, col)
            self.cells[key] = cell

    @staticmethod
    def _header(text: str) -> QLabel:
        label = QLabel(f"<b>{text}</b>")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        return label

    def set_matrix(self, matrix: np.ndarray) -> None:
        (tn, fp), (fn, tp) = matrix
        for key, value, words in (("tp", tp, "caught"), ("fn", fn, "missed"),
                                  ("fp", fp, "false alarms"), ("tn", tn, "correctly cleared")):
            self.cells[key].setText(f"<span style='font-size:15pt'><b>{value}</b></span>"
                                    f"<br>{words}")


class EvaluationPage(QWizardPage):
    """ROC, confusion matrix, threshold slider, and comparison with the active model."""

    SLIDER_STEPS = 1000
    VALIDATION_SUBTITLE = ("Figures on the validation images, which the model never learned "
                           "from. Move the slider to trade missed pneumonia against false "
                           "alarms.")

    def __init__(self, owner: WizardOwner):
        super().__init__()
        self.owner = owner
        self.setObjectName("evaluationPage")
        self.setTitle("Step 4 of 5 — How well does the new model do?")
        self.setSubTitle(self.VALIDATION_SUBTITLE)
        self.labels = np.zeros(0)
        self.scores = np.zeros(0)
        self.suggested = 0.5
        self.threshold = 0.5
        self.target = DEFAULTS.target_sensitivity

        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        self.roc = RocPlot()
        self.roc.setObjectName("rocPlot")
        left.addWidget(titled("<b>ROC curve</b> on images the model did not learn from",
                              self.roc), 1)
        left.addWidget(hint("Each point of a curve is one possible threshold. Up: more "
                            "pneumonia caught; right: more normal images wrongly flagged. "
                            "A curve closer to the top-left corner is a better model."))
        layout.addLayout(left, 5)

        right = QVBoxLayout()
        self.intro = QLabel("")
        self.intro.setObjectName("evaluationIntro")
        self.intro.setWordWrap(True)
        right.addWidget(self.intro)
        box = QGroupBox("Threshold")
        box_layout = QVBoxLayout(box)
        self.threshold_label = QLabel("")
        self.threshold_label.setObjectName("thresholdLabel")
        self.threshold_label.setWordWrap(True)
        box_layout.addWidget(self.threshold_label)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("thresholdSlider")
        self.slider.setRange(1, self.SLIDER_STEPS - 1)
        self.slider.setToolTip("Left: flag more studies (fewer missed, more false alarms). "
                               "Right: flag fewer.")
        self.slider.valueChanged.connect(self._slider_moved)
        ends = QHBoxLayout()
        for text in ("◀ catch more pneumonia", "fewer false alarms ▶"):
            end = QLabel(text)
            end.setStyleSheet(HINT_STYLE)
            ends.addWidget(end)
            if text.startswith("◀"):
                ends.addStretch(1)
        box_layout.addWidget(self.slider)
        box_layout.addLayout(ends)
        self.sensitivity_label = QLabel("")
        self.sensitivity_label.setObjectName("sensitivityLabel")
        self.specificity_label = QLabel("")
        self.specificity_label.setObjectName("specificityLabel")
        box_layout.addWidget(self.sensitivity_label)
        box_layout.addWidget(self.specificity_label)
        self.reset_button = QPushButton("")
        self.reset_button.setObjectName("resetThresholdButton")
        self.reset_button.clicked.connect(lambda: self.set_threshold(self.suggested))
        box_layout.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.confusion = ConfusionGrid()
        box_layout.addWidget(self.confusion)
        right.addWidget(box)
        compare_box = QGroupBox("Compared with the active model, on the same images")
        compare_layout = QVBoxLayout(compare_box)
        self.comparison_table = read_only_table(["Model", "AUC", "Threshold", "Sensitivity",
                                        "Specificity"], "comparisonTable", 0)
        compare_layout.addWidget(self.comparison_table)
        self.comparison_note = hint("")
        self.comparison_note.setObjectName("comparisonNote")
        compare_layout.addWidget(self.comparison_note)
        right.addWidget(compare_box)
        right.addStretch(1)
        layout.addLayout(right, 4)

    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        outcome = self.owner.outcome
        if outcome is None:
            return
        result = outcome.result
        self.labels, self.scores = result.val_labels, result.val_scores
        self.suggested = float(result.card.threshold)
        self.target = float(result.card.threshold_rule.get("target", DEFAULTS.target_sensitivity))
        counts = (f"({int(self.labels.sum())} PNEUMONIA, "
                  f"{int(len(self.labels) - self.labels.sum())} NORMAL) from "
                  f"<b>{outcome.val_patients}</b> patients")
        auc = (f"ROC AUC <b>{metrics.roc_auc(self.labels, self.scores):.3f}</b> (1.0 perfect, "
               "0.5 chance).")
        if outcome.source == "cross-validated":
            self.setSubTitle("Figures on all your images, each scored by a model that did not "
                             "learn from it (cross-validated by patient). Move the slider to "
                             "trade missed pneumonia against false alarms.")
            self.intro.setText(f"<b>{outcome.val_images}</b> of your images {counts}. {auc}"
                               + local_summary(result.card.local))
        else:
            self.setSubTitle(self.VALIDATION_SUBTITLE)
            self.intro.setText(f"Validation: <b>{outcome.val_images}</b> images {counts}. {auc}")
        self.reset_button.setText(f"Back to the suggested threshold ({self.target * 100:.0f} % "
                                  "sensitivity)")
        fpr, tpr, _ = metrics.roc_curve(self.labels, self.scores)
        active = None
        comparison = outcome.comparison
        if comparison is not None and comparison.scores is not None:
            afpr, atpr, _ = metrics.roc_curve(comparison.labels, comparison.scores)
            point = _operating_point(comparison.labels, comparison.scores, comparison.threshold)
            active = (afpr, atpr, f"Active model ({comparison.name})", point)
        self.roc.set_curves(fpr, tpr, _operating_point(self.labels, self.scores, self.suggested),
                            active)
        self.set_threshold(self.suggested)

    def set_threshold(self, threshold: float) -> None:
        """Use `threshold` (0..1) as the operating point; moves the slider."""
        self.threshold = float(np.clip(threshold, 1e-6, 1 - 1e-6))
        self.slider.blockSignals(True)
        self.slider.setValue(round(self.threshold * self.SLIDER_STEPS))
        self.slider.blockSignals(False)
        self._update()

    @property
    def threshold_changed(self) -> bool:
        return self.threshold != self.suggested

    def _slider_moved(self, value: int) -> None:
        self.threshold = value / self.SLIDER_STEPS
        self._update()

    def _update(self) -> None:
        if not len(self.labels):
            return
        matrix = metrics.confusion(self.labels, self.scores, self.threshold)
        (tn, fp), (fn, tp) = matrix
        sens, spec = tp / max(tp + fn, 1), tn / max(tn + fp, 1)
        chosen = ("suggested" if not self.threshold_changed else "chosen by you")
        self.threshold_label.setText(
            f"Flag as pneumonia when the model's probability is at least "
            f"<b>{threshold_percent(self.threshold, self.suggested)}</b> ({chosen}).")
        self.sensitivity_label.setText(
            f"<b>Sensitivity {pct(sens)}</b>: {tp} of {tp + fn} pneumonia images flagged")
        self.specificity_label.setText(
            f"<b>Specificity {pct(spec)}</b>: {tn} of {tn + fp} normal images cleared")
        self.confusion.set_matrix(matrix)
        self.roc.set_point(1 - spec, sens)
        self._update_comparison(sens, spec)

    def _update_comparison(self, sens: float, spec: float) -> None:
        comparison = self.owner.outcome.comparison if self.owner.outcome else None
        auc = metrics.roc_auc(self.labels, self.scores)
        active = comparison.threshold if comparison is not None else self.threshold
        rows = [["New model", f"{auc:.3f}", threshold_percent(self.threshold, active), pct(sens),
                 pct(spec)]]
        n = len(self.labels)
        if comparison is None:
            note = "There is no active model to compare with."
        elif comparison.scores is None:
            note = f"The active model could not be scored: {comparison.error}"
        else:
            report = metrics.report(comparison.labels, comparison.scores, comparison.threshold,
                                    roc_points=2)
            rows.append([f"Active: {comparison.name}", f"{report['auc']:.3f}",
                         threshold_percent(comparison.threshold, self.threshold),
                         pct(report["sensitivity"]),
                         pct(report["specificity"])])
            diff = auc - report["auc"]
            word = "higher" if diff > 0 else "lower" if diff < 0 else "the same"
            note = (f"The new model's AUC is {word}"
                    + (f" by {abs(diff):.3f}." if diff else "."))
            if n < 200:
                note += f" With {n} images, differences under ~0.05 may be chance."
            note += (" If the active model was trained on some of these images, its figures "
                     "here are too optimistic.")
        fill_table(self.comparison_table, rows)
        self.comparison_note.setText(note)
