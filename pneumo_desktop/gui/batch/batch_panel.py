"""The batch panel: progress with rate and time left, Cancel, the results table and its filter."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pneumo_desktop.gui.batch.batch_model import (
    ERROR,
    NORMAL,
    NOT_SCORED,
    PNEUMONIA,
    REFUSED,
    BatchFilterProxy,
    BatchTableModel,
    PathRole,
)

#: The filter combo's entries. "Not scored (all)" keeps its old place and meaning (every row
#: without a score); the input check's refusals and unreadable files can also be shown apart.
FILTERS = (("All files", None), ("Pneumonia suspected", PNEUMONIA),
           ("No pneumonia suspected", NORMAL), ("Not scored (all)", NOT_SCORED),
           ("Not scored (input check)", REFUSED), ("Not scored (unreadable)", ERROR))
FILTER_TIPS = {REFUSED: "Studies the input check refused: not frontal chest radiographs of "
                        "children (other modality or body part, lateral view, adult, blank…)",
               ERROR: "Files that cannot be read (damaged, empty, not an image)",
               NOT_SCORED: "Every file without a score: refused by the input check or "
                           "unreadable"}


def rate_text(done: int, total: int, seconds: float, eta: bool = True) -> str:
    """'37 / 120 · 45.2 images/s · about 2 s left'."""
    rate = done / seconds if seconds > 0 else 0.0
    text = f"{done} / {total} · {rate:.1f} images/s"
    if eta and 0 < done < total and rate > 0:
        left = (total - done) / rate
        text += f" · about {left:.0f} s left" if left < 120 else \
            f" · about {left / 60:.0f} min left"
    return text


class BatchPanel(QWidget):
    """Results of scoring many files; double-click (or Enter) opens a study in the viewer."""

    openRequested = Signal(str)
    scoreFolderRequested = Signal()
    exportCsvRequested = Signal()
    exportPdfRequested = Signal()
    cancelRequested = Signal()

    def __init__(self, model: BatchTableModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("batchPanel")
        self.model = model
        self.proxy = BatchFilterProxy(self)
        self.proxy.setSourceModel(model)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        top = QHBoxLayout()
        self.score_button = QPushButton("Score folder…")
        self.score_button.setToolTip("Score every image in a folder (Ctrl+Shift+O); you can "
                                     "also drop a folder or files onto the window")
        self.score_button.clicked.connect(self.scoreFolderRequested)
        top.addWidget(self.score_button)
        top.addWidget(QLabel("Show:"))
        self.filter_combo = QComboBox()
        self.filter_combo.setObjectName("decisionFilter")
        self.filter_combo.setToolTip("Show only the rows with this decision")
        for i, (label, decision) in enumerate(FILTERS):
            self.filter_combo.addItem(label)
            if decision in FILTER_TIPS:
                self.filter_combo.setItemData(i, FILTER_TIPS[decision],
                                              Qt.ItemDataRole.ToolTipRole)
        self.filter_combo.currentIndexChanged.connect(
            lambda i: self.proxy.set_decision_filter(FILTERS[i][1]))
        top.addWidget(self.filter_combo)
        self.summary_label = QLabel("")
        self.summary_label.setObjectName("batchSummary")
        top.addWidget(self.summary_label, 1)
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.setToolTip("Save every row as CSV, same columns as the command line "
                                   "(Ctrl+E)")
        self.csv_button.clicked.connect(self.exportCsvRequested)
        self.pdf_button = QPushButton("PDF report…")
        self.pdf_button.setToolTip("Summary plus one page per flagged study with its heat map "
                                   "(Ctrl+P)")
        self.pdf_button.clicked.connect(self.exportPdfRequested)
        top.addWidget(self.csv_button)
        top.addWidget(self.pdf_button)
        layout.addLayout(top)

        self.progress_row = QWidget()
        progress = QHBoxLayout(self.progress_row)
        progress.setContentsMargins(0, 0, 0, 0)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("batchProgress")
        self.progress_bar.setFormat("%v / %m")
        self.rate_label = QLabel("")
        self.rate_label.setObjectName("batchRate")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop scoring; rows scored so far are kept (Esc)")
        self.cancel_button.clicked.connect(self.cancelRequested)
        progress.addWidget(self.progress_bar, 1)
        progress.addWidget(self.rate_label)
        progress.addWidget(self.cancel_button)
        layout.addWidget(self.progress_row)
        self.progress_row.hide()
        self._last: tuple[int, int, float] = (0, 0, 0.0)

        self.table = QTableView()
        self.table.setObjectName("batchTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # scoring order until asked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAcceptDrops(False)
        self.table.viewport().setAcceptDrops(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 320)
        header.resizeSection(1, 90)
        header.resizeSection(2, 170)
        header.setStretchLastSection(True)
        self.table.setToolTip("Click a header to sort; double-click or Enter opens the study")
        self.table.activated.connect(self._activated)
        layout.addWidget(self.table, 1)
        self.set_running(False)
        self.update_summary()

    # -- state -----------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.progress_row.setVisible(running or self.progress_bar.maximum() > 0)
        self.cancel_button.setEnabled(running)
        self.score_button.setEnabled(not running)
        has_rows = self.model.rowCount() > 0
        self.csv_button.setEnabled(has_rows and not running)
        self.pdf_button.setEnabled(has_rows and not running)

    def begin(self, total: int) -> None:
        self._last = (0, total, 0.0)
        self.progress_bar.setRange(0, max(total, 0))
        self.progress_bar.setValue(0)
        self.rate_label.setText(f"0 / {total}")
        self.set_running(True)

    def set_progress(self, done: int, total: int, seconds: float) -> None:
        self._last = (done, total, seconds)
        self.progress_bar.setMaximum(total)
        self.progress_bar.setValue(done)
        self.rate_label.setText(rate_text(done, total, seconds))

    def finish(self, cancelled: bool) -> None:
        text = rate_text(*self._last, eta=False)
        self.rate_label.setText(f"{text} · cancelled" if cancelled else text)
        self.set_running(False)
        self.update_summary()

    def update_summary(self) -> None:
        scored, flagged, failed = self.model.counts()
        total = scored + failed
        if not total:
            self.summary_label.setText("No batch scored yet")
            return
        parts = [f"{total} files", f"{flagged} pneumonia suspected",
                 f"{scored - flagged} not suspected"]
        if failed:
            refused = self.model.refused_count()
            detail = f" ({refused} by the input check)" if refused else ""
            parts.append(f"{failed} not scored{detail}")
        outside = self.model.outside_count()
        if outside:
            parts.append(f"⚠ {outside} scored anyway, outside intended use")
        self.summary_label.setText(" · ".join(parts))

    # -- navigation ------------------------------------------------------------------------
    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.openRequested.emit(self.proxy.data(index, PathRole))

    def step(self, delta: int) -> str | None:
        """Select the row `delta` rows below (above) the current one; its path, or None."""
        rows = self.proxy.rowCount()
        if not rows:
            return None
        current = self.table.currentIndex()
        row = current.row() + delta if current.isValid() else (0 if delta > 0 else rows - 1)
        if not 0 <= row < rows:
            return None
        index = self.proxy.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index)
        return self.proxy.data(index, PathRole)
