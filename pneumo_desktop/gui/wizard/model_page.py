"""Step 2 of the training wizard: check and recalibrate, fine-tune or train from scratch, the
training settings, and a duration estimate measured on this computer.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from pneumo_desktop.gui.wizard.owner import WizardOwner
from pneumo_desktop.gui.wizard.training_worker import (
    SpeedEstimate,
)
from pneumo_desktop.gui.wizard.widgets import (
    DEFAULTS,
    SettingsGrid,
    duration_text,
    grouped,
    hint,
)
from pneumo_desktop.model.architectures import ARCHITECTURES
from pneumo_desktop.training.config import TrainConfig

ARCH_NOTES = {"compact_cnn": "fast on an ordinary PC (recommended)",
              "custom_cnn": "very small and fast; less accurate"}


class ModelPage(QWizardPage):
    """Start point, architecture and training settings, with a measured duration estimate."""

    def __init__(self, owner: WizardOwner):
        super().__init__()
        self.owner = owner
        self.setObjectName("modelPage")
        self.setTitle("Step 2 of 5 — What to do with your images")
        self.setSubTitle("Checking the active model on your images is quick and changes nothing "
                         "in it; fine-tuning adapts it. The defaults suit most cases.")
        self.setButtonText(QWizard.WizardButton.NextButton, "Start training >")
        self.estimates: dict[tuple[str, int, int], SpeedEstimate] = {}
        self.estimate_error: str | None = None

        layout = QVBoxLayout(self)
        start_box = QGroupBox("What do you want to do?")
        start = QVBoxLayout(start_box)
        card = owner.active_card
        active = "the active model" if card is None else f"the active model “{card.name}”"
        self.calibrate_radio = QRadioButton(
            f"Check and recalibrate on my images — {active} as it is, no training")
        self.calibrate_radio.setObjectName("calibrateRadio")
        self.calibrate_radio.setStyleSheet("font-weight:600;")
        start.addWidget(self.calibrate_radio)
        start.addWidget(hint(
            "Scores each of your labelled images once (about a minute), shows how well the "
            "model does on them and sets its threshold for your hospital. The model's "
            "knowledge is not changed. A good first step."
            if card is not None else f"Not available: {owner.active_error or 'no active model'}."))
        start.addSpacing(8)
        self.fine_tune_radio = QRadioButton(f"Fine-tune on my images — adapt {active}")
        self.fine_tune_radio.setObjectName("fineTuneRadio")
        self.fine_tune_radio.setStyleSheet("font-weight:600;")
        self.scratch_radio = QRadioButton("Train a new model from scratch")
        self.scratch_radio.setObjectName("scratchRadio")
        self.arch_combo = QComboBox()
        self.arch_combo.setObjectName("architectureCombo")
        for name in ARCHITECTURES:
            note = ARCH_NOTES.get(name, "large; slow without a GPU")
            self.arch_combo.addItem(f"{name} — {note}", name)
        self.arch_combo.setCurrentIndex(list(ARCHITECTURES).index(DEFAULTS.architecture))
        start.addWidget(self.fine_tune_radio)
        start.addWidget(hint("Its last layers learn from your images (minutes). Every figure "
                             "you see is measured on images the model did not learn from: it is "
                             "trained 5 times, each time leaving a fifth of your patients out, "
                             "then once on all of them."
                             if card is not None else
                             f"Not available: {owner.active_error or 'no active model'}."))
        start.addSpacing(8)
        scratch_row = QHBoxLayout()
        scratch_row.addWidget(self.scratch_radio)
        scratch_row.addWidget(self.arch_combo, 1)
        start.addLayout(scratch_row)
        start.addWidget(hint("Learns everything from your images alone; needs thousands of "
                             "images to match a fine-tuned model."))
        layout.addWidget(start_box)
        if card is None:
            self.fine_tune_radio.setEnabled(False)
            self.calibrate_radio.setEnabled(False)
            self.scratch_radio.setChecked(True)
        else:
            self.fine_tune_radio.setChecked(True)

        self.settings = QWidget()
        self.settings.setObjectName("trainingSettings")
        grid = SettingsGrid(self.settings)
        grid.setContentsMargins(0, 0, 0, 0)
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("imageSizeSpin")
        self.size_spin.setRange(32, 1024)
        self.size_spin.setSingleStep(32)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(DEFAULTS.image_size)
        self.size_hint = grid.add("Image size:", self.size_spin, "")
        self._scratch_size = DEFAULTS.image_size
        self.size_spin.valueChanged.connect(self._size_changed)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setObjectName("epochsSpin")
        self.epochs_spin.setRange(1, 500)
        self.epochs_spin.setValue(DEFAULTS.epochs)
        grid.add("Epochs:", self.epochs_spin,
                 "Passes over the training images; stops earlier once validation AUC has not "
                 f"improved for {DEFAULTS.patience} epochs.")
        self.sensitivity_spin = QDoubleSpinBox()
        self.sensitivity_spin.setObjectName("sensitivitySpin")
        self.sensitivity_spin.setRange(50.0, 99.9)
        self.sensitivity_spin.setDecimals(1)
        self.sensitivity_spin.setSuffix(" %")
        self.sensitivity_spin.setValue(DEFAULTS.target_sensitivity * 100)
        layout.addWidget(self.settings)
        target_grid = SettingsGrid()
        target_grid.add("Target sensitivity:", self.sensitivity_spin,
                        "Share of pneumonia cases the suggested threshold must flag (adjustable "
                        "on the evaluation page).")
        layout.addLayout(target_grid)

        self.advanced_button = QToolButton()
        self.advanced_button.setObjectName("advancedToggle")
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self._toggle_advanced)
        layout.addWidget(self.advanced_button)
        self.advanced = QWidget()
        self.advanced.setObjectName("advancedBox")
        adv = SettingsGrid(self.advanced)
        adv.setContentsMargins(18, 0, 0, 0)
        self.batch_spin = QSpinBox()
        self.batch_spin.setObjectName("batchSizeSpin")
        self.batch_spin.setRange(1, 512)
        self.batch_spin.setValue(DEFAULTS.batch_size)
        adv.add("Batch size:", self.batch_spin,
                "Images per training step; lower it if the computer runs out of memory.")
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setObjectName("learningRateSpin")
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.0, 0.1)
        self.lr_spin.setSingleStep(0.0001)
        self.lr_spin.setSpecialValueText("automatic")
        adv.add("Learning rate:", self.lr_spin,
                "Size of each learning step; automatic: 0.001 from scratch, 0.0001 when "
                "fine-tuning.")
        self.augment_check = QCheckBox("on")
        self.augment_check.setObjectName("augmentCheck")
        self.augment_check.setChecked(DEFAULTS.augment)
        adv.add("Augmentation:", self.augment_check,
                "Small random rotations, shifts, zooms and contrast changes, so the model does "
                "not memorise the images.")
        self.weight_check = QCheckBox("on")
        self.weight_check.setObjectName("classWeightCheck")
        self.weight_check.setChecked(DEFAULTS.class_weighting)
        adv.add("Class balancing:", self.weight_check,
                "Counts the rarer class more, so an unbalanced folder does not bias the model.")
        self.steps_spin = QSpinBox()
        self.steps_spin.setObjectName("maxStepsSpin")
        self.steps_spin.setRange(0, 100_000)
        self.steps_spin.setSpecialValueText("all")
        adv.add("Batches per epoch:", self.steps_spin,
                "“all” goes through every training image each epoch; a number makes a quick "
                "trial.")
        self.advanced.setVisible(False)
        layout.addWidget(self.advanced)
        layout.addStretch(1)

        self.estimate_label = QLabel("")
        self.estimate_label.setObjectName("estimateLabel")
        self.estimate_label.setWordWrap(True)
        layout.addWidget(self.estimate_label)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(500)
        self._debounce.timeout.connect(self._measure)
        for radio in (self.calibrate_radio, self.fine_tune_radio, self.scratch_radio):
            radio.toggled.connect(self._settings_changed)
        self.arch_combo.currentIndexChanged.connect(self._settings_changed)
        for spin in (self.size_spin, self.epochs_spin, self.batch_spin, self.steps_spin):
            spin.valueChanged.connect(self._settings_changed)
        self._update_enabled()

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown
                                          else Qt.ArrowType.RightArrow)

    @property
    def fine_tune(self) -> bool:
        return self.fine_tune_radio.isChecked() and self.owner.active_card is not None

    @property
    def calibrate(self) -> bool:
        """Check and recalibrate the active model: no training."""
        return self.calibrate_radio.isChecked() and self.owner.active_card is not None

    @property
    def mode(self) -> str:
        return "calibrate" if self.calibrate else "fine_tune" if self.fine_tune else "scratch"

    def _update_enabled(self) -> None:
        card = self.owner.active_card
        adapting = self.fine_tune or self.calibrate
        self.arch_combo.setEnabled(not adapting)
        self.size_spin.setEnabled(not adapting)
        self.settings.setEnabled(not self.calibrate)
        self.advanced_button.setEnabled(not self.calibrate)
        self.setButtonText(QWizard.WizardButton.NextButton,
                           "Check my images >" if self.calibrate else "Start training >")
        self.size_spin.blockSignals(True)
        if adapting and card is not None:
            self.size_spin.setValue(card.input_size)  # shown; config() takes it from the card
            self.size_hint.setText("Fixed by the active model when fine-tuning.")
        else:
            self.size_spin.setValue(self._scratch_size)
            self.size_hint.setText("Images are shrunk to this square size; larger is slower "
                                   "and not always better.")
        self.size_spin.blockSignals(False)

    def _size_changed(self, value: int) -> None:
        if not self.fine_tune:
            self._scratch_size = value

    def config(self, **split_options) -> TrainConfig:
        """The TrainConfig these settings describe."""
        card = self.owner.active_card
        fine = (self.fine_tune or self.calibrate) and card is not None
        return TrainConfig(
            architecture=card.architecture if fine else self.arch_combo.currentData(),
            image_size=card.input_size if fine else self.size_spin.value(),
            epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value(),
            learning_rate=self.lr_spin.value() or None,
            target_sensitivity=round(self.sensitivity_spin.value() / 100, 4),
            init_from=str(self.owner.active_model) if fine else None,
            augment=self.augment_check.isChecked(),
            class_weighting=self.weight_check.isChecked(),
            max_steps_per_epoch=self.steps_spin.value(), **split_options)

    # -- duration estimate -------------------------------------------------------------------
    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        self._settings_changed()

    def _key(self) -> tuple[str, int, int]:
        config = self.config()
        return config.architecture, config.image_size, config.batch_size

    def _settings_changed(self) -> None:
        self._update_enabled()
        if self.calibrate:
            n_train, n_eval = self.owner.data_page.train_size()
            self.estimate_label.setText(
                f"<b>No training.</b> Each of your {grouped(n_train + n_eval)} images is scored "
                "once by the active model; then the threshold is set for your hospital and "
                "checked by cross-validation (about a minute).")
        elif self._key() in self.estimates:
            self.show_estimate()
        else:
            self.estimate_label.setText("Estimated training time: measuring the speed of this "
                                        "computer with a few training steps…")
            self._debounce.start()

    def _measure(self) -> None:
        if self.calibrate:
            return
        if self.owner.currentPage() is self and self._key() not in self.estimates:
            self.owner.measure_speed(*self._key())

    def add_estimate(self, estimate: SpeedEstimate) -> None:
        key = (estimate.architecture, estimate.image_size, estimate.batch_size)
        self.estimates[key] = estimate
        if self.calibrate:
            return
        if key == self._key():
            self.show_estimate()
        elif self.owner.currentPage() is self:
            self._debounce.start()

    def show_estimate_error(self, message: str) -> None:
        self.estimate_label.setText(f"Estimated training time: unknown (the speed test "
                                    f"failed: {message})")

    def estimated_seconds(self) -> float | None:
        estimate = self.estimates.get(self._key())
        if estimate is None:
            return None
        n_train, n_eval = self.owner.data_page.train_size()
        config = self.config()
        if self.fine_tune and config.cross_fit_folds:  # k fold models, then one on every image
            n, k = n_train + n_eval, max(2, config.cross_fit_folds)
            learn = n * (k - 1) / k * (1 - config.inner_val_fraction)
            return k * estimate.total_seconds(round(learn), round(n - learn), config) + \
                estimate.total_seconds(n, 0, config)
        return estimate.total_seconds(n_train, n_eval, config)

    def show_estimate(self) -> None:
        estimate = self.estimates[self._key()]
        config = self.config()
        n_train, _ = self.owner.data_page.train_size()
        steps = math.ceil(n_train / config.batch_size)
        if config.max_steps_per_epoch:
            steps = min(steps, config.max_steps_per_epoch)
        seconds = self.estimated_seconds() or 0.0
        per_step = estimate.seconds_per_step * config.batch_size / estimate.batch_size
        if self.fine_tune and config.cross_fit_folds:
            self.estimate_label.setText(
                f"<b>Estimated time on this computer: {duration_text(seconds)}</b> at most "
                f"({config.cross_fit_folds + 1} models of up to {config.epochs} epochs; "
                f"measured here: {per_step:.2f} s per batch of {config.batch_size}). Usually "
                "much less: each model stops once it no longer improves.")
            return
        self.estimate_label.setText(
            f"<b>Estimated training time on this computer: {duration_text(seconds)}</b> at most "
            f"({config.epochs} epochs × {steps} batches of {config.batch_size} images; measured "
            f"here: {per_step:.2f} s per batch). Often less: training stops early once "
            "validation stops improving.")
