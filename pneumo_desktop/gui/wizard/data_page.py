"""Step 1 of the training wizard: pick or drop the training folder, see what it holds and how
it will be split by patient, and which files are skipped.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from pneumo_desktop.gui.wizard.owner import WizardOwner
from pneumo_desktop.gui.wizard.training_worker import (
    FolderCheck,
)
from pneumo_desktop.gui.wizard.widgets import (
    DEFAULTS,
    ERROR_STYLE,
    OK_STYLE,
    fill_table,
    grouped,
    hint,
    read_only_table,
)
from pneumo_desktop.imaging.checks import PREFIX as REFUSED_PREFIX
from pneumo_desktop.model.bundle import CLASS_NAMES
from pneumo_desktop.training.config import TrainConfig

SPLIT_NAMES = {"train": "Training", "val": "Validation", "test": "Test"}
SPLIT_ROLES = {"train": "the model learns from these",
               "val": "picks the best epoch and the threshold; never learned from",
               "test": "kept apart for a final check, reported in the model card"}


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


class DataPage(QWizardPage):
    """Pick or drop the training folder; see what it holds and how it will be split."""

    def __init__(self, owner: WizardOwner):
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
        self.counts_table = read_only_table(["Folder", *CLASS_NAMES, "Total"], "countsTable", 0)
        counts_layout.addWidget(self.counts_table)
        left.addWidget(counts_box)
        split_box = QGroupBox("Patient-level split that training will use")
        split_layout = QVBoxLayout(split_box)
        self.split_table = read_only_table(["Split", *CLASS_NAMES, "Patients", "Purpose"],
                                           "splitTable")
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
        self.status.setText("Checking that every image can be read: "
                            f"{grouped(done)} / {grouped(total)}")

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
                rows.append([where, *(grouped(c[k]) for k in CLASS_NAMES),
                             grouped(sum(c.values()))])
        fill_table(self.counts_table, rows)
        split_rows = []
        for key, cache in data.caches.items():
            n_pos = int(cache.labels.sum())
            split_rows.append([SPLIT_NAMES[key], grouped(len(cache.labels) - n_pos), grouped(n_pos),
                               grouped(len({s.patient for s in cache.samples})), SPLIT_ROLES[key]])
        fill_table(self.split_table, split_rows)
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
        text = (f"✔ {grouped(used)} images will be used: {grouped(used - n_pos)} NORMAL, "
                f"{grouped(n_pos)} PNEUMONIA")
        if check.config.limit and check.config.limit < total:
            text += (f" (a random {grouped(check.config.limit)} of the {grouped(total)} in the "
                     "folder)")
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
