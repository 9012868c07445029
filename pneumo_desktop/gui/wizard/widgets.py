"""What the wizard's pages share: styles, the default settings, grey hints, rows of settings,
read-only tables and the wording of durations, percentages and counts."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from pneumo_desktop.training.config import TrainConfig

DEFAULTS = TrainConfig()
ERROR_STYLE = "color:#a40000;"
OK_STYLE = "color:#1b6e20;"
HINT_STYLE = "color:#666; font-size:90%;"


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


def read_only_table(columns: list[str], name: str, stretch: int = -1) -> QTableWidget:
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


def fill_table(table: QTableWidget, rows: list[list[str]]) -> None:
    """Show `rows` in `table` (counts right-aligned), as tall as its rows."""
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


def grouped(value: int) -> str:
    """12345 -> '12 345'."""
    return f"{value:,}".replace(",", " ")
