"""Batch results as a Qt table model (one row per file) and its decision filter / sort proxy."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from pneumo_desktop.gui.result_panel import decision_text

if TYPE_CHECKING:
    from pneumo_desktop.core.inference import ScoredFile

PNEUMONIA, NORMAL, ERROR = "PNEUMONIA", "NORMAL", "ERROR"
DecisionRole = Qt.ItemDataRole.UserRole + 1  # PNEUMONIA / NORMAL / ERROR
SortRole = Qt.ItemDataRole.UserRole + 2
PathRole = Qt.ItemDataRole.UserRole + 3
ROW_COLORS = {PNEUMONIA: QColor(255, 215, 215), NORMAL: QColor(223, 240, 216),
              ERROR: QColor(228, 228, 228)}
FILE, PROBABILITY, DECISION, ERROR_COLUMN = range(4)

Index = QModelIndex | QPersistentModelIndex


class BatchTableModel(QAbstractTableModel):
    """Scored files (core `ScoredFile`s) with their decision at the table's threshold."""

    HEADERS = ("File", "Probability", "Decision", "Error")

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._items: list[ScoredFile] = []
        self.threshold = 0.5
        self.model_name = ""
        self.root: Path | None = None

    # -- contents --------------------------------------------------------------------------
    def start(self, model_name: str, threshold: float, inputs: list[Path]) -> None:
        """Empty the table for a new batch scored by `model_name` at `threshold`."""
        self.beginResetModel()
        self._items = []
        self.model_name, self.threshold = model_name, threshold
        folders = [Path(p) for p in inputs]
        self.root = folders[0] if len(folders) == 1 and folders[0].is_dir() else None
        if self.root is None and folders:
            try:
                common = os.path.commonpath([str(p.absolute().parent) for p in folders])
            except ValueError:  # different drives
                common = ""
            self.root = Path(common) if common else None
        self.endResetModel()

    def clear(self) -> None:
        self.beginResetModel()
        self._items = []
        self.endResetModel()

    def add(self, items: list[ScoredFile]) -> None:
        if not items:
            return
        items = [self._relabel(item) for item in items]
        first = len(self._items)
        self.beginInsertRows(QModelIndex(), first, first + len(items) - 1)
        self._items.extend(items)
        self.endInsertRows()

    def _relabel(self, item: ScoredFile) -> ScoredFile:
        pred = item.prediction
        if pred is not None and pred.threshold != self.threshold:
            item.prediction = dataclasses.replace(pred, threshold=self.threshold)
        return item

    def set_threshold(self, threshold: float) -> None:
        """Decide every row again at a new threshold (no re-scoring needed)."""
        self.threshold = float(threshold)
        for item in self._items:
            self._relabel(item)
        if self._items:
            self.dataChanged.emit(self.index(0, PROBABILITY),
                                  self.index(len(self._items) - 1, DECISION))

    def item(self, row: int) -> ScoredFile:
        return self._items[row]

    def items(self) -> list[ScoredFile]:
        return list(self._items)

    def counts(self) -> tuple[int, int, int]:
        """(scored, flagged as pneumonia, failed)."""
        scored = [i for i in self._items if i.prediction is not None]
        flagged = sum(1 for i in scored if i.prediction.label == PNEUMONIA)
        return len(scored), flagged, len(self._items) - len(scored)

    def csv_rows(self) -> list[dict[str, str]]:
        """Rows for the CSV export: the CLI's columns, in scoring order."""
        from pneumo_desktop.core.scoring import csv_row

        return [csv_row(item, self.model_name, self.threshold) for item in self._items]

    def display_name(self, item: ScoredFile) -> str:
        if self.root is not None:
            try:
                return str(item.path.relative_to(self.root))
            except ValueError:
                pass
        return item.path.name

    @staticmethod
    def decision(item: ScoredFile) -> str:
        return item.prediction.label if item.prediction is not None else ERROR

    # -- Qt model --------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item, column = self._items[index.row()], index.column()
        pred, decision = item.prediction, self.decision(item)
        if role == Qt.ItemDataRole.DisplayRole:
            if column == FILE:
                return self.display_name(item)
            if column == PROBABILITY:
                return f"{pred.probability * 100:.1f} %" if pred else ""
            if column == DECISION:
                return decision_text(pred.probability, pred.threshold) if pred else "Not scored"
            return item.error or ""
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == ERROR_COLUMN and item.error:
                return item.error
            return f"{item.path}\nDouble-click to open it with its heat map"
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(ROW_COLORS[decision])
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(QColor(20, 20, 20))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == PROBABILITY:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == DecisionRole:
            return decision
        if role == PathRole:
            return str(item.path)
        if role == SortRole:
            if column == FILE:
                return self.display_name(item).lower()
            if column == PROBABILITY:
                return pred.probability if pred else -1.0
            if column == DECISION:
                return {PNEUMONIA: 2, NORMAL: 1, ERROR: 0}[decision]
            return (item.error or "").lower()
        return None


class BatchFilterProxy(QSortFilterProxyModel):
    """Sorts by the model's SortRole and keeps only rows with the chosen decision."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._decision: str | None = None
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    @property
    def decision_filter(self) -> str | None:
        return self._decision

    def set_decision_filter(self, decision: str | None) -> None:
        """PNEUMONIA, NORMAL, ERROR, or None for every row."""
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10
            self.beginFilterChange()
            self._decision = decision
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._decision = decision
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self._decision is None:
            return True
        model = self.sourceModel()
        return model.data(model.index(source_row, 0, source_parent), DecisionRole) == \
            self._decision
