"""Preferences: the decision-threshold override, with a warning whenever it leaves the model's."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from pneumo_desktop.gui.viewer.result_panel import WARNING_STYLE, percent


class PreferencesDialog(QDialog):
    """Edit the threshold override; `override()` gives the chosen value or None."""

    def __init__(self, parent: QWidget | None = None, *, model_threshold: float | None,
                 override: float | None):
        super().__init__(parent)
        self.setObjectName("preferences")
        self.setWindowTitle("Preferences")
        self.model_threshold = model_threshold
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.override_check = QCheckBox("Use my own decision threshold")
        self.override_check.setObjectName("overrideCheck")
        self.override_check.setToolTip("Replace the model's validated threshold (not "
                                       "recommended without a local validation)")
        self.spin = QDoubleSpinBox()
        self.spin.setObjectName("thresholdSpin")
        self.spin.setRange(1.0, 99.0)
        self.spin.setDecimals(1)
        self.spin.setSingleStep(1.0)
        self.spin.setSuffix(" %")
        self.spin.setToolTip("Studies scoring at or above this are flagged as pneumonia")
        start = override if override is not None else (model_threshold or 0.5)
        self.spin.setValue(start * 100)
        self.override_check.setChecked(override is not None)
        form.addRow(self.override_check)
        form.addRow("Threshold:", self.spin)
        model_text = percent(model_threshold) if model_threshold is not None else "unknown"
        form.addRow("Model's threshold:", QLabel(model_text))
        layout.addLayout(form)
        self.warning = QLabel()
        self.warning.setObjectName("thresholdWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(WARNING_STYLE)
        layout.addWidget(self.warning)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.override_check.toggled.connect(self._update)
        self.spin.valueChanged.connect(self._update)
        self._update()

    def override(self) -> float | None:
        return self.spin.value() / 100 if self.override_check.isChecked() else None

    def _update(self) -> None:
        self.spin.setEnabled(self.override_check.isChecked())
        value = self.override()
        differs = value is not None and (self.model_threshold is None
                                         or abs(value - self.model_threshold) > 1e-9)
        self.warning.setVisible(differs)
        if differs:
            self.warning.setText(
                "⚠ Decisions will differ from the model's validated operating point: the "
                "sensitivity and specificity on its model card no longer apply. Lower "
                "thresholds flag more studies (fewer missed cases, more false alarms).")
