"""Batch results as a Qt table model (one row per file) and its decision filter / sort proxy.

Rows without a score are of two kinds: ERROR (the file cannot be read) and REFUSED (the input
check found it is not a frontal chest radiograph of a child; its score is withheld). A refused
row opened in the viewer and scored anyway there shows its score, marked outside intended use.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from pneumo_desktop.gui.proxy_filter import refilter
from pneumo_desktop.gui.table_model import HeaderTableModel, Index
from pneumo_desktop.gui.viewer.result_panel import OUTSIDE_MARK, decision_text

if TYPE_CHECKING:
    from pneumo_desktop.model.inference import Prediction, ScoredFile

PNEUMONIA, NORMAL, ERROR, REFUSED = "PNEUMONIA", "NORMAL", "ERROR", "REFUSED"
NOT_SCORED = frozenset({ERROR, REFUSED})  # the filter for every row without a score
DecisionRole = Qt.ItemDataRole.UserRole + 1  # PNEUMONIA / NORMAL / ERROR / REFUSED
SortRole = Qt.ItemDataRole.UserRole + 2
PathRole = Qt.ItemDataRole.UserRole + 3
ROW_COLORS = {PNEUMONIA: QColor(255, 215, 215), NORMAL: QColor(223, 240, 216),
              ERROR: QColor(228, 228, 228), REFUSED: QColor(255, 236, 179)}
DECISION_ORDER = {PNEUMONIA: 3, NORMAL: 2, REFUSED: 1, ERROR: 0}
FILE, PROBABILITY, DECISION, ERROR_COLUMN = range(4)



class BatchTableModel(HeaderTableModel):
    """Scored files (core `ScoredFile`s) with their decision at the table's threshold."""

    HEADERS = ("File", "Probability", "Decision", "Reason / note")

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._items: list[ScoredFile] = []
        self.threshold = 0.5
        self.model_name = ""
        self.root: Path | None = None
        self.learned = True  # the scoring model has a learned input check (for the CSV)

    # -- contents --------------------------------------------------------------------------
    def start(self, model_name: str, threshold: float, inputs: list[Path], *,
              learned: bool = True) -> None:
        """Empty the table for a new batch scored by `model_name` at `threshold`; `learned`:
        whether that model has a learned input check (said in the CSV's input_check column)."""
        self.beginResetModel()
        self._items = []
        self.model_name, self.threshold, self.learned = model_name, threshold, learned
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
        """(scored, flagged as pneumonia, not scored: unreadable or refused)."""
        scored = [i for i in self._items if i.prediction is not None]
        flagged = sum(1 for i in scored if i.prediction.label == PNEUMONIA)
        return len(scored), flagged, len(self._items) - len(scored)

    def refused_count(self) -> int:
        """Rows the input check refused (their score withheld)."""
        return sum(1 for i in self._items if i.prediction is None and i.refusal is not None)

    def outside_count(self) -> int:
        """Rows scored anyway although the input check refused them."""
        return sum(1 for i in self._items if i.prediction is not None and i.prediction.refusal)

    def score_anyway(self, path: Path, scored: Prediction | None = None) -> bool:
        """Show the withheld score of the refused row(s) for `path`, marked outside intended
        use (the user chose "Score anyway" in the viewer); False when there is none. A row
        refused from its DICOM tags alone was never decoded and has no withheld score: it
        takes `scored`, the viewer's score of the same file."""
        changed = False
        for row, item in enumerate(self._items):
            shown = item.withheld or (scored if item.tag_refusal else None)
            if item.path == Path(path) and item.prediction is None and shown:
                self._items[row] = self._relabel(dataclasses.replace(
                    item, prediction=shown, error=None, withheld=None, tag_refusal=None))
                self.dataChanged.emit(self.index(row, 0), self.index(row, ERROR_COLUMN))
                changed = True
        return changed

    def csv_rows(self) -> list[dict[str, str]]:
        """Rows for the CSV export: the CLI's columns (input_check included), in order."""
        from pneumo_desktop.model.scoring import csv_row

        return [csv_row(item, self.model_name, self.threshold, learned=self.learned)
                for item in self._items]

    def display_name(self, item: ScoredFile) -> str:
        if self.root is not None:
            try:
                return str(item.path.relative_to(self.root))
            except ValueError:
                pass
        return item.path.name

    @staticmethod
    def decision(item: ScoredFile) -> str:
        if item.prediction is not None:
            return item.prediction.label
        return REFUSED if item.refusal is not None else ERROR

    @staticmethod
    def note(item: ScoredFile) -> str:
        """The last column: why a file was not scored, or the outside-use mark of a forced one."""
        if item.error:
            return item.error
        return item.prediction.outside_use_note if item.prediction is not None else ""

    # -- Qt model --------------------------------------------------------------------------
    def _length(self) -> int:
        return len(self._items)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return super().headerData(section, orientation, role)

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
                if pred is None:
                    return "Not scored"
                text = decision_text(pred.probability, pred.threshold)
                return f"⚠ {text} ({OUTSIDE_MARK})" if pred.refusal else text
            return self.note(item)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == ERROR_COLUMN and self.note(item):
                return self.note(item)
            if decision == REFUSED:
                return (f"{item.path}\nNot a frontal chest X-ray of a child: {item.refusal.reason}"
                        "\nDouble-click to open it; “Score anyway” is offered there")
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
                return DECISION_ORDER[decision]
            return self.note(item).lower()
        return None


class BatchFilterProxy(QSortFilterProxyModel):
    """Sorts by the model's SortRole and keeps only rows with the chosen decision(s)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._decision: str | frozenset[str] | None = None
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    @property
    def decision_filter(self) -> str | frozenset[str] | None:
        return self._decision

    def set_decision_filter(self, decision: str | frozenset[str] | None) -> None:
        """PNEUMONIA, NORMAL, ERROR, REFUSED, a set of them (NOT_SCORED), or None for all."""
        refilter(self, lambda: setattr(self, "_decision", decision))

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self._decision is None:
            return True
        model = self.sourceModel()
        decision = model.data(model.index(source_row, 0, source_parent), DecisionRole)
        if isinstance(self._decision, frozenset):
            return decision in self._decision
        return decision == self._decision
