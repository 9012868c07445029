"""The five pages of the training wizard: data, model, training, evaluation, save.

Pages only display and collect; the wizard (`training_wizard.TrainingWizard`, passed in as
`owner`) starts the workers and holds the state they produce.
"""

from __future__ import annotations

import html
import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from pneumo_desktop.evaluation import metrics
from pneumo_desktop.evaluation.figures_source import threshold_percent
from pneumo_desktop.gui.plots import TRAIN_COLOR, VAL_COLOR, RocPlot, TrainingPlots, titled
from pneumo_desktop.gui.training_worker import (
    CHOSEN_RULE,
    FolderCheck,
    SpeedEstimate,
    model_name_problem,
)
from pneumo_desktop.imaging.checks import PREFIX as REFUSED_PREFIX
from pneumo_desktop.model.architectures import ARCHITECTURES
from pneumo_desktop.model.bundle import CLASS_NAMES
from pneumo_desktop.training.config import (
    BatchProgress,
    EpochProgress,
    TrainConfig,
    epoch_summary,
)

if TYPE_CHECKING:
    from pneumo_desktop.gui.training_wizard import TrainingWizard

DEFAULTS = TrainConfig()
ERROR_STYLE = "color:#a40000;"
OK_STYLE = "color:#1b6e20;"
HINT_STYLE = "color:#666; font-size:90%;"
SPLIT_NAMES = {"train": "Training", "val": "Validation", "test": "Test"}
SPLIT_ROLES = {"train": "the model learns from these",
               "val": "picks the best epoch and the threshold; never learned from",
               "test": "kept apart for a final check, reported in the model card"}
ARCH_NOTES = {"compact_cnn": "fast on an ordinary PC (recommended)",
              "custom_cnn": "very small and fast; less accurate"}


def hint(text: str) -> QLabel:
    """A short explanation, in grey."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(HINT_STYLE)
    return label


class SettingsGrid(QGridLayout):
    """Rows of label · input · one-line explanation."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setColumnStretch(2, 1)
        self.setHorizontalSpacing(12)
        self.setColumnMinimumWidth(0, 130)

    def add(self, label: str, widget: QWidget, text: str) -> QLabel:
        row = self.rowCount()
        widget.setFixedWidth(120)
        explanation = hint(text)
        self.addWidget(QLabel(label), row, 0)
        self.addWidget(widget, row, 1)
        self.addWidget(explanation, row, 2)
        return explanation


def duration_text(seconds: float) -> str:
    """37 -> 'about 35 s'; 92 -> 'about 2 min'; 4000 -> 'about 1 h 07 min'."""
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 60:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"


def pct(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value * 100:.0f} %"


def _table(columns: list[str], name: str, stretch: int = -1) -> QTableWidget:
    """A read-only table; column `stretch` (default: the last) takes the spare width."""
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch % len(columns), QHeaderView.ResizeMode.Stretch)
    return table


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            if c > 0 and text.replace(" ", "").replace(".", "").isdigit():
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
    height = table.horizontalHeader().height() + 4
    height += sum(table.rowHeight(r) for r in range(len(rows)))
    table.setFixedHeight(height)


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def skipped_file_text(path: str | Path, reason: str) -> tuple[str, bool]:
    """'name — reason' for a file the training data check skipped, and whether the input
    check refused it (not a frontal chest radiograph of a child) rather than it being
    unreadable."""
    name = Path(path).name
    reason = reason.removeprefix(f"{name}: ")
    refused = REFUSED_PREFIX in reason
    if refused:
        reason = "not a frontal chest X-ray: " + reason.split(REFUSED_PREFIX, 1)[1]
    return f"{name} — {reason}", refused


# -- 1. data -----------------------------------------------------------------------------------
class DataPage(QWizardPage):
    """Pick or drop the training folder; see what it holds and how it will be split."""

    def __init__(self, owner: TrainingWizard):
        super().__init__()
        self.owner = owner
        self.setObjectName("dataPage")
        self.setTitle("Step 1 of 5 — Training images")
        self.setSubTitle("Choose (or drop here) a folder with the subfolders NORMAL and PNEUMONIA, "
                         "optionally inside train/, val/ and test/ as in the Kaggle download.")
        self.setAcceptDrops(True)
        self.folder: Path | None = None
        self.check: FolderCheck | None = None
        self.error: str | None = None
        self.checking = False

        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setObjectName("folderEdit")
        self.folder_edit.setReadOnly(True)
        self.folder_edit.setPlaceholderText("Drop a folder here, or choose one →")
        choose = QPushButton("Choose folder…")
        choose.setObjectName("chooseFolderButton")
        choose.clicked.connect(self._choose)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(choose)
        layout.addLayout(row)

        options = QHBoxLayout()
        self.limit_spin = QSpinBox()
        self.limit_spin.setObjectName("limitSpin")
        self.limit_spin.setRange(0, 1_000_000)
        self.limit_spin.setSingleStep(100)
        self.limit_spin.setSpecialValueText("all")
        self.limit_spin.setToolTip("Use a random subset for a quick trial; 'all' uses every image")
        self.seed_spin = QSpinBox()
        self.seed_spin.setObjectName("seedSpin")
        self.seed_spin.setRange(0, 999_999)
        self.seed_spin.setValue(DEFAULTS.seed)
        self.seed_spin.setToolTip("Another number gives another (equally valid) random split")
        options.addWidget(QLabel("Images to use:"))
        options.addWidget(self.limit_spin)
        options.addSpacing(20)
        options.addWidget(QLabel("Split seed:"))
        options.addWidget(self.seed_spin)
        options.addStretch(1)
        layout.addLayout(options)
        layout.addWidget(hint("“all” uses every image; a smaller number is a quick trial. The seed "
                              "fixes the random split, so a run can be repeated exactly."))

        self.status = QLabel("No folder chosen yet.")
        self.status.setObjectName("dataStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.progress = QProgressBar()
        self.progress.setObjectName("checkProgress")
        self.progress.setVisible(False)
        layout.addWidget(self.progress)

        self.details = QWidget()
        details = QHBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        left = QVBoxLayout()
        counts_box = QGroupBox("Images found in the folder")
        counts_layout = QVBoxLayout(counts_box)
        self.counts_table = _table(["Folder", *CLASS_NAMES, "Total"], "countsTable", 0)
        counts_layout.addWidget(self.counts_table)
        left.addWidget(counts_box)
        split_box = QGroupBox("Patient-level split that training will use")
        split_layout = QVBoxLayout(split_box)
        self.split_table = _table(["Split", *CLASS_NAMES, "Patients", "Purpose"], "splitTable")
        split_layout.addWidget(self.split_table)
        self.split_note = hint("")
        self.split_note.setObjectName("splitNote")
        split_layout.addWidget(self.split_note)
        left.addWidget(split_box)
        left.addStretch(1)
        details.addLayout(left, 3)
        bad_box = QGroupBox("Skipped files (never learned from)")
        bad_box.setToolTip("Files that cannot be read, and files the input check refuses: "
                           "not frontal chest X-rays of children (other modality or body "
                           "part, lateral view, adult, too small, blank…)")
        bad_layout = QVBoxLayout(bad_box)
        self.unreadable_list = QListWidget()
        self.unreadable_list.setObjectName("unreadableList")
        bad_layout.addWidget(self.unreadable_list)
        details.addWidget(bad_box, 2)
        layout.addWidget(self.details, 1)
        self.details.setVisible(False)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(400)
        self._debounce.timeout.connect(self.start_check)
        self.limit_spin.valueChanged.connect(self._options_changed)
        self.seed_spin.valueChanged.connect(self._options_changed)

    # -- state -------------------------------------------------------------------------------
    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return self.check is not None and not self.checking

    def split_options(self) -> dict:
        return {"seed": self.seed_spin.value(), "limit": self.limit_spin.value()}

    def set_folder(self, folder: str | Path) -> None:
        """Use `folder` and check it (in a worker)."""
        self.folder = Path(folder)
        self.folder_edit.setText(str(self.folder))
        self.start_check()

    def start_check(self) -> None:
        if self.folder is None:
            return
        self.check, self.error, self.checking = None, None, True
        self.details.setVisible(False)
        self.status.setStyleSheet("")
        self.status.setText(f"Checking {html.escape(str(self.folder))}: reading every image once…")
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.owner.check_folder(self.folder, TrainConfig(**self.split_options()))
        self.completeChanged.emit()

    def _options_changed(self) -> None:
        if self.folder is not None:  # the split shown is outdated: no Next until re-checked
            self.checking = True
            self.completeChanged.emit()
            self._debounce.start()

    def _choose(self) -> None:
        start = str(self.folder) if self.folder else ""
        folder = QFileDialog.getExistingDirectory(self, "Choose the training folder", start)
        if folder:
            self.set_folder(folder)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() and Path(urls[0].toLocalFile()).is_dir():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.set_folder(urls[0].toLocalFile())
            event.acceptProposedAction()

    # -- results -----------------------------------------------------------------------------
    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(f"Checking that every image can be read: {_n(done)} / {_n(total)}")

    def show_error(self, message: str) -> None:
        self.check, self.error, self.checking = None, message, False
        self.progress.setVisible(False)
        self.details.setVisible(False)
        self.status.setStyleSheet(ERROR_STYLE)
        self.status.setText(f"This folder cannot be used for training.\n{message}")
        self.completeChanged.emit()

    def show_check(self, check: FolderCheck) -> None:
        self.check, self.error, self.checking = check, None, False
        self.progress.setVisible(False)
        scan, data = check.scan, check.data
        counts = scan.counts()
        rows = []
        for split in ("train", "val", "test", "all"):
            if split in counts:
                c = counts[split]
                where = f"{split}/" if split != "all" else "All images"
                rows.append([where, *(_n(c[k]) for k in CLASS_NAMES), _n(sum(c.values()))])
        _fill(self.counts_table, rows)
        split_rows = []
        for key, cache in data.caches.items():
            n_pos = int(cache.labels.sum())
            split_rows.append([SPLIT_NAMES[key], _n(len(cache.labels) - n_pos), _n(n_pos),
                               _n(len({s.patient for s in cache.samples})), SPLIT_ROLES[key]])
        _fill(self.split_table, split_rows)
        note = (f"Split by patient with seed {check.config.seed}: all images of one child stay "
                "on the same side, so validation measures children the model has never seen.")
        if scan.layout == "kaggle" and "test" in counts:
            note += " The folder's own test/ images are the test split; the rest is re-split."
        self.split_note.setText(note)
        self.unreadable_list.clear()
        refused = 0
        for path, reason in data.unreadable:
            text, was_refused = skipped_file_text(path, reason)
            refused += was_refused
            item = QListWidgetItem(text)
            item.setToolTip(f"{path}\n{text}")
            self.unreadable_list.addItem(item)
        if not data.unreadable:
            self.unreadable_list.addItem("None: every image can be read and looks like a "
                                         "frontal chest X-ray.")
        total = sum(scan.class_counts().values())
        used = sum(len(c.labels) for c in data.caches.values())
        n_pos = sum(int(c.labels.sum()) for c in data.caches.values())
        text = (f"✔ {_n(used)} images will be used: {_n(used - n_pos)} NORMAL, "
                f"{_n(n_pos)} PNEUMONIA")
        if check.config.limit and check.config.limit < total:
            text += f" (a random {_n(check.config.limit)} of the {_n(total)} in the folder)"
        text += "."
        unreadable = len(data.unreadable) - refused
        if unreadable:
            text += f" {unreadable} file(s) cannot be read and will be skipped."
        if refused:
            text += (f" {refused} file(s) are not frontal chest X-rays of children (input "
                     "check) and will be skipped: they are never learned from.")
        ratio = max(n_pos, used - n_pos) / max(min(n_pos, used - n_pos), 1)
        if ratio >= 1.5:
            text += (f" One class is {ratio:.1f}× as frequent as the other; class weighting "
                     "(on by default) compensates.")
        self.status.setStyleSheet(OK_STYLE)
        self.status.setText(text)
        self.details.setVisible(True)
        self.completeChanged.emit()

    def train_size(self) -> tuple[int, int]:
        """(training images, validation + test images) of the checked folder."""
        if self.check is None:
            return 0, 0
        caches = self.check.data.caches
        n_train = len(caches["train"].labels) if "train" in caches else 0
        return n_train, sum(len(c.labels) for k, c in caches.items() if k != "train")


# -- 2. model ----------------------------------------------------------------------------------
class ModelPage(QWizardPage):
    """Start point, architecture and training settings, with a measured duration estimate."""

    def __init__(self, owner: TrainingWizard):
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
                f"<b>No training.</b> Each of your {_n(n_train + n_eval)} images is scored "
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


# -- 3. training -------------------------------------------------------------------------------
class TrainingPage(QWizardPage):
    """Live progress, curves, Stop and Cancel. Training (or the check of the active model)
    starts when the page is shown."""

    TRAINING_SUBTITLE = ("Watch the validation curve (orange): it measures images the model "
                         "does not learn from. You can stop at any time and keep the best model.")

    def __init__(self, owner: TrainingWizard):
        super().__init__()
        self.owner = owner
        self.setObjectName("trainingPage")
        self.setTitle("Step 3 of 5 — Training")
        self.setSubTitle(self.TRAINING_SUBTITLE)
        self.mode = "scratch"
        self.setButtonText(QWizard.WizardButton.NextButton, "Evaluate >")
        self.epochs = 1
        self.best: EpochProgress | None = None
        self.last_epoch: EpochProgress | None = None
        self.stopping = False

        layout = QVBoxLayout(self)
        self.status = QLabel("")
        self.status.setObjectName("trainingStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("font-weight:600;")
        layout.addWidget(self.status)
        self.run_label = QLabel("")
        self.run_label.setObjectName("runLabel")
        self.run_label.setWordWrap(True)
        self.run_label.setVisible(False)
        layout.addWidget(self.run_label)
        bar_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setObjectName("trainingProgress")
        self.rate = QLabel("")
        self.rate.setObjectName("rateLabel")
        self.rate.setMinimumWidth(300)
        bar_row.addWidget(self.progress, 1)
        bar_row.addWidget(self.rate)
        layout.addLayout(bar_row)
        legend = QLabel(
            f"<span style='color:{TRAIN_COLOR}'>━●━ <b>Training images</b></span> (learned "
            "from; faint line: during the epoch) &nbsp;&nbsp; "
            f"<span style='color:{VAL_COLOR}'>━■━ <b>Validation images</b></span> (held "
            "back: the honest measure) &nbsp;&nbsp; ★ best epoch (kept)")
        legend.setObjectName("plotLegend")
        legend.setWordWrap(True)
        layout.addWidget(legend)
        self.legend = legend
        self.plots = TrainingPlots()
        layout.addWidget(self.plots, 1)
        self.best_label = QLabel("")
        self.best_label.setObjectName("bestLabel")
        layout.addWidget(self.best_label)
        buttons = QHBoxLayout()
        self.stop_button = QPushButton("Stop and keep the best model")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Finish after the current batch; the best epoch so far is "
                                    "kept and you go on to evaluate it")
        self.stop_button.clicked.connect(owner.request_stop)
        self.cancel_button = QPushButton("Cancel training (discard)")
        self.cancel_button.setObjectName("cancelTrainingButton")
        self.cancel_button.setToolTip("Abandon this training; nothing is kept")
        self.cancel_button.clicked.connect(owner.request_cancel)
        self.retry_button = QPushButton("Train again")
        self.retry_button.setObjectName("retryButton")
        self.retry_button.setToolTip("Start a new training with the same settings")
        self.retry_button.clicked.connect(owner.start_training)
        for button in (self.stop_button, self.cancel_button, self.retry_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.log = QPlainTextEdit()
        self.log.setObjectName("trainingLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setFixedHeight(62)
        layout.addWidget(self.log)
        self.retry_button.setVisible(False)

    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        self.owner.start_training()

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return self.owner.outcome is not None and not self.owner.training_running

    def begin(self, config: TrainConfig, mode: str = "scratch") -> None:
        """Reset the page for a new run of `config` (`mode`: scratch, fine_tune, calibrate)."""
        self.mode = mode
        calibrating = mode == "calibrate"
        if calibrating:
            self.setTitle("Step 3 of 5 — Checking the active model on your images")
            self.setSubTitle("Each image is scored once; nothing is trained. The threshold "
                             "is then set for your hospital and checked by cross-validation.")
        else:
            self.setTitle("Step 3 of 5 — Training")
            self.setSubTitle(self.TRAINING_SUBTITLE)
        for widget in (self.plots, self.legend, self.best_label, self.stop_button):
            widget.setVisible(not calibrating)
        self.run_label.setText("")
        self.run_label.setVisible(False)
        self.epochs, self.best, self.last_epoch, self.stopping = config.epochs, None, None, False
        self.plots.reset(config.epochs)
        self.progress.setRange(0, 0)
        self.status.setStyleSheet("font-weight:600;")
        self.status.setText("Starting…")
        self.rate.setText("")
        self.best_label.setText("")
        self.log.clear()
        self.stop_button.setEnabled(True)
        self.cancel_button.setEnabled(True)
        self.retry_button.setVisible(False)

    # -- worker signals (queued to the GUI thread: these must stay @Slot methods) -------------
    @Slot(str)
    def on_stage(self, stage: str) -> None:
        texts = {"waiting": "Waiting for the speed test to finish…",
                 "preparing": "Preparing the images (each is read and resized once)…",
                 "training": "Building the model…",
                 "comparing": "Scoring the validation images with the active model, for "
                              "comparison…",
                 "scoring": "Scoring your images with the active model…"}
        self.status.setText(texts.get(stage, stage))
        if stage == "comparing":
            self.progress.setRange(0, 0)

    @Slot(str)
    def on_message(self, text: str) -> None:
        self.log.appendPlainText(text)

    @Slot(int, int, str, int)
    def on_run(self, run: int, runs: int, title: str, epochs: int) -> None:
        """Cross-fitting: model `run` of `runs` starts; its curves replace the last one's."""
        self.epochs, self.best, self.last_epoch = epochs, None, None
        self.plots.reset(epochs)
        self.best_label.setText("")
        self.run_label.setText(f"<b>Model {run} of {runs}</b> — {html.escape(title)}")
        self.run_label.setVisible(True)

    @Slot(int, int)
    def on_cache_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.rate.setText(f"{_n(done)} / {_n(total)} images")

    @Slot(object)
    def on_batch(self, p: BatchProgress) -> None:
        self.plots.add_batch(p.epoch, p.batch, p.batches, p.loss, p.auc)
        self.progress.setRange(0, p.epochs * p.batches)
        self.progress.setValue((p.epoch - 1) * p.batches + p.batch)
        if not self.stopping:
            self.status.setText(f"Training: epoch {p.epoch} of {p.epochs}, batch {p.batch} of "
                                f"{p.batches}")
        if p.batch == p.batches:
            self.status.setText(f"Epoch {p.epoch} of {p.epochs}: checking the validation "
                                "images…")
        self.rate.setText(f"{p.images_per_second:.0f} images/s · "
                          f"{duration_text(p.eta_seconds)} left at most")

    @Slot(object)
    def on_epoch(self, p: EpochProgress) -> None:
        self.last_epoch = p
        self.plots.add_epoch(p.epoch, p.loss, p.val_loss, p.auc, p.val_auc, p.improved)
        if p.improved:
            self.best = p
        if self.best is not None:
            self.best_label.setText(epoch_summary(self.best, p))

    def on_stopping(self) -> None:
        self.stopping = True
        self.stop_button.setEnabled(False)
        self.status.setText("Stopping after this batch; the best model so far will be kept…")

    def on_cancelling(self) -> None:
        self.stop_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        self.status.setText("Cancelling…")

    def on_ended(self, outcome: str, detail: str = "") -> None:
        """`outcome`: finished, stopped, cancelled or failed."""
        self.stop_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if outcome in ("finished", "stopped") else 0)
        result = self.owner.outcome.result if self.owner.outcome else None
        if result is not None and self.mode == "calibrate":
            self.status.setStyleSheet("font-weight:600;" + OK_STYLE)
            self.status.setText(f"✔ Done: {self.owner.outcome.val_images} of your images scored "
                                "and the threshold set for your hospital. Click “Evaluate” to "
                                "see the figures.")
            self.rate.setText("")
        elif result is not None:
            epochs = result.card.training.get("epochs_run", 0)
            best = result.card.validation.get("best_epoch")
            how = "Stopped by you" if outcome == "stopped" else "Training finished"
            self.status.setStyleSheet("font-weight:600;" + OK_STYLE)
            self.status.setText(f"✔ {how} after {epochs} epoch(s). The best epoch ({best}) is "
                                "kept. Click “Evaluate” to see how well it does.")
            self.rate.setText("")
        elif outcome == "cancelled":
            self.status.setStyleSheet("font-weight:600;")
            self.status.setText("Training cancelled: nothing was kept. Use Back to change the "
                                "settings, or Train again.")
        else:
            self.status.setStyleSheet("font-weight:600;" + ERROR_STYLE)
            self.status.setText(f"Training failed: {detail}\nNothing was saved; your models are "
                                "unchanged.")
        self.retry_button.setVisible(result is None)
        self.completeChanged.emit()


# -- 4. evaluation -----------------------------------------------------------------------------
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

    def __init__(self, owner: TrainingWizard):
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
        self.comparison_table = _table(["Model", "AUC", "Threshold", "Sensitivity",
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
        _fill(self.comparison_table, rows)
        self.comparison_note.setText(note)


# -- 5. save -----------------------------------------------------------------------------------
class SavePage(QWizardPage):
    """Name the model, save it (atomically) and optionally make it active."""

    def __init__(self, owner: TrainingWizard):
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

