"""The worklist: every study that arrived (DICOM receiver, watched folder) with its state, a
state filter, sorting, patient names only on request, and "Mark reviewed" with the reader's own
read, written to the audit log. Scoring is not done here: rows are fed `Arrival`s and
`Outcome`s (see `gui.intake.receiver_controller`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pneumo_desktop.evaluation.figures_source import percent
from pneumo_desktop.gui.proxy_filter import refilter
from pneumo_desktop.gui.table_model import HeaderTableModel, Index
from pneumo_desktop.intake.audit_log import READS, AuditLog, StudyRecord
from pneumo_desktop.intake.pipeline import Arrival, Outcome, identifiers

NEW, SCORED, FLAGGED, NOT_SCORED, REVIEWED = "new", "scored", "flagged", "not scored", "reviewed"
STATE_ORDER = {FLAGGED: 4, NEW: 3, NOT_SCORED: 2, SCORED: 1, REVIEWED: 0}
STATE_COLORS = {FLAGGED: QColor(255, 215, 215), SCORED: QColor(223, 240, 216),
                NOT_SCORED: QColor(255, 236, 179), NEW: QColor(255, 255, 255),
                REVIEWED: QColor(236, 236, 236)}
TIME, SOURCE, PATIENT_ID, PATIENT_NAME, STUDY, STATE, PROBABILITY, PACS = range(8)
StateRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2
PathRole = Qt.ItemDataRole.UserRole + 3
LogIdRole = Qt.ItemDataRole.UserRole + 4
#: the filter combo: label and the states shown (None: all)
FILTERS = (("Awaiting review", frozenset({NEW, FLAGGED, SCORED, NOT_SCORED})),
           ("Pneumonia suspected", frozenset({FLAGGED})), ("New", frozenset({NEW})),
           ("No pneumonia suspected", frozenset({SCORED})),
           ("Not scored", frozenset({NOT_SCORED})), ("Reviewed", frozenset({REVIEWED})),
           ("All studies", None))



@dataclass
class WorklistRow:
    """One arrived study."""

    log_id: int | None
    received: datetime
    source: str
    path: Path
    patient_id: str = ""
    patient_name: str = ""
    study: str = ""
    outcome: str = ""  # '' (not scored yet) | scored | refused | unreadable
    probability: float | None = None
    decision: str = ""
    reason: str = ""  # why it was not scored
    read: str = ""  # the reviewer's read: pneumonia | normal | unsure
    identified: bool = True  # False: patient and study fields not read from the file yet
    #: its result objects for the PACS: SOP Instance UID (or '*' from the log) -> state
    results: dict[str, str] = field(default_factory=dict)
    results_detail: str = ""  # the latest change, e.g. why it is waiting

    @property
    def pacs_state(self) -> str:
        """'' (none), 'waiting', 'failed' or 'sent' (all of them)."""
        states = set(self.results.values())
        if not states:
            return ""
        if "failed" in states:
            return "failed"
        return "sent" if states == {"sent"} else "waiting"

    def identify(self) -> None:
        """Read patient ID, name and study from the DICOM header (once, when first shown)."""
        if not self.identified:
            self.identified = True
            for key, value in identifiers(self.path).items():
                setattr(self, key, value)

    @property
    def state(self) -> str:
        if self.read:
            return REVIEWED
        if not self.outcome:
            return NEW
        if self.probability is None:
            return NOT_SCORED
        return FLAGGED if self.decision == "PNEUMONIA" else SCORED

    def state_text(self) -> str:
        state = self.state
        if state == REVIEWED:
            return f"reviewed: {self.read}"
        if state == NOT_SCORED:
            reason = self.reason.removeprefix("not scored: ")
            return f"not scored: {reason}" if reason else "not scored"
        return {FLAGGED: "flagged: pneumonia suspected", SCORED: "scored: not suspected",
                NEW: "new"}[state]


class WorklistModel(HeaderTableModel):
    """Arrived studies, newest last; `audit` receives the reviewers' reads."""

    HEADERS = ("Received", "Source", "Patient ID", "Patient name", "Study", "State",
               "Probability", "PACS")

    def __init__(self, audit: AuditLog | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.audit = audit
        self.show_names = False
        self._rows: list[WorklistRow] = []
        self._by_key: dict[Any, int] = {}

    # -- contents --------------------------------------------------------------------------
    @staticmethod
    def _key(log_id: int | None, path: Path) -> Any:
        return log_id if log_id is not None else str(path)

    def row(self, row: int) -> WorklistRow:
        return self._rows[row]

    def rows(self) -> list[WorklistRow]:
        return list(self._rows)

    def find(self, log_id: int | None, path: Path | None = None) -> int | None:
        return self._by_key.get(self._key(log_id, path))

    def _append(self, rows: list[WorklistRow]) -> None:
        rows = [r for r in rows if self._key(r.log_id, r.path) not in self._by_key]
        if not rows:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        for row in rows:
            self._by_key[self._key(row.log_id, row.path)] = len(self._rows)
            self._rows.append(row)
        self.endInsertRows()

    def add_arrival(self, arrival: Arrival) -> int:
        """A new study (state "new"); returns its row. An arrival already listed is kept."""
        self._append([WorklistRow(arrival.log_id, arrival.received, arrival.source,
                                  Path(arrival.path), arrival.patient_id,
                                  arrival.patient_name, arrival.study)])
        return self.find(arrival.log_id, Path(arrival.path))

    def set_outcome(self, arrival: Arrival, outcome: Outcome) -> int:
        """Its score, or why it was not scored; returns its row."""
        index = self.find(arrival.log_id, Path(arrival.path))
        if index is None:
            index = self.add_arrival(arrival)
        row = self._rows[index]
        row.outcome, row.probability = outcome.event, outcome.probability
        row.decision, row.reason = outcome.decision, outcome.reason
        self._changed(index)
        return index

    def set_result(self, item) -> int | None:
        """A result object's new state (an `intake.outbound.OutboundItem`); its row or None."""
        index = self.find(item.ref, Path(item.source))
        if index is None:
            return None
        row = self._rows[index]
        row.results.pop("*", None)  # the log's summary gives way to the live states
        row.results[item.sop_instance_uid] = item.state
        row.results_detail = f"{item.kind.upper()}: {item.detail}" if item.detail else ""
        self._changed(index)
        return index

    def load(self, audit: AuditLog | None = None, limit: int | None = None) -> int:
        """List the studies the audit log knows (the newest `limit`); returns how many."""
        audit = audit or self.audit
        records = audit.studies()
        if limit is not None:
            records = records[-limit:]
        before = len(self._rows)
        results = audit.result_states()
        rows = [_from_record(r) for r in records]
        for row in rows:
            if row.log_id in results:
                row.results["*"] = results[row.log_id]
        self._append(rows)
        return len(self._rows) - before

    def mark_reviewed(self, rows: list[int], read: str, reader: str | None = None) -> None:
        """Record the reviewer's own read for these rows in the audit log."""
        if read not in READS:
            raise ValueError(f"read must be one of {READS}, not {read!r}")
        for index in rows:
            row = self._rows[index]
            if self.audit is not None and row.log_id is not None:
                self.audit.log_read(row.log_id, read, reader=reader)
            row.read = read
            self._changed(index)

    def set_show_names(self, show: bool) -> None:
        self.show_names = show
        if self._rows:
            self.dataChanged.emit(self.index(0, PATIENT_NAME),
                                  self.index(len(self._rows) - 1, PATIENT_NAME))

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATE_ORDER, 0)
        for row in self._rows:
            counts[row.state] += 1
        return counts

    def _changed(self, index: int) -> None:
        self.dataChanged.emit(self.index(index, 0), self.index(index, len(self.HEADERS) - 1))

    # -- Qt model --------------------------------------------------------------------------
    def _length(self) -> int:
        return len(self._rows)

    def _text(self, row: WorklistRow, column: int) -> str:
        if column in (PATIENT_ID, PATIENT_NAME, STUDY):
            row.identify()
        if column == TIME:
            return row.received.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        if column == SOURCE:
            return row.source
        if column == PATIENT_ID:
            return row.patient_id
        if column == PATIENT_NAME:
            return row.patient_name.replace("^", " ").strip() if self.show_names else ""
        if column == STUDY:
            return row.study or row.path.name
        if column == STATE:
            return row.state_text()
        if column == PACS:
            return row.pacs_state
        # as the result panel writes it ('> 99 %', never '100.0 %')
        return percent(row.probability) if row.probability is not None else ""

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row, column = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{row.path}\nDouble-click to open it"
            if column == PACS and row.pacs_state:
                return (f"Results for the PACS (SR, heat-map image): {row.pacs_state}"
                        f"{chr(10) + row.results_detail if row.results_detail else ''}")
            return f"{row.state_text()}\n{tip}" if column == STATE else tip
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(STATE_COLORS[row.state])
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(QColor(20, 20, 20))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == PROBABILITY:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == StateRole:
            return row.state
        if role == PathRole:
            return str(row.path)
        if role == LogIdRole:
            return row.log_id
        if role == SortRole:
            if column == TIME:
                return row.received.timestamp()
            if column == PROBABILITY:
                return row.probability if row.probability is not None else -1.0
            if column == STATE:
                return STATE_ORDER[row.state]
            return self._text(row, column).lower()
        return None


class WorklistFilter(QSortFilterProxyModel):
    """Sorts by SortRole and keeps the rows whose state is in the chosen set (None: all)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.states: frozenset[str] | None = None
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    def set_states(self, states: frozenset[str] | None) -> None:
        refilter(self, lambda: setattr(self, "states", states))

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self.states is None:
            return True
        model = self.sourceModel()
        return model.data(model.index(source_row, 0, source_parent), StateRole) in self.states


class WorklistWidget(QWidget):
    """The worklist table with its filter, the patient-name switch and "Mark reviewed"."""

    openRequested = Signal(str)  # a study's path (double-click or Enter)
    reviewed = Signal(int, str)  # audit-log id of the study, the read

    def __init__(self, model: WorklistModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("worklist")
        self.model = model
        self.proxy = WorklistFilter(self)
        self.proxy.setSourceModel(model)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        self.filter_combo = QComboBox()
        self.filter_combo.setObjectName("worklistFilter")
        for label, _ in FILTERS:
            self.filter_combo.addItem(label)
        self.filter_combo.currentIndexChanged.connect(
            lambda i: self.proxy.set_states(FILTERS[i][1]))
        self.proxy.set_states(FILTERS[0][1])
        top.addWidget(self.filter_combo)
        self.names_box = QCheckBox("Show patient names")
        self.names_box.setObjectName("showPatientNames")
        self.names_box.setToolTip("Patient names stay hidden unless this is ticked")
        self.names_box.toggled.connect(self._show_names)
        top.addWidget(self.names_box)
        self.summary_label = QLabel("")
        self.summary_label.setObjectName("worklistSummary")
        top.addWidget(self.summary_label, 1)
        self.review_button = QToolButton()
        self.review_button.setObjectName("markReviewed")
        self.review_button.setText("Mark reviewed")
        self.review_button.setToolTip("Record your own read of the selected studies "
                                      "(kept in the audit log; usable as labels)")
        self.review_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.review_button)
        self.read_actions: dict[str, QAction] = {}
        for read in READS:
            action = menu.addAction(f"My read: {read}")
            action.triggered.connect(lambda _=False, r=read: self.mark_selected(r))
            self.read_actions[read] = action
        self.review_button.setMenu(menu)
        top.addWidget(self.review_button)
        layout.addLayout(top)

        self.table = QTableView()
        self.table.setObjectName("worklistTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(TIME, Qt.SortOrder.DescendingOrder)  # newest first
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in ((TIME, 140), (SOURCE, 170), (PATIENT_ID, 110),
                              (PATIENT_NAME, 150), (STUDY, 150), (STATE, 260)):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        self.table.setColumnHidden(PATIENT_NAME, True)
        self.table.activated.connect(self._activated)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)
        for signal in (model.rowsInserted, model.dataChanged, model.modelReset):
            signal.connect(self.update_summary)
        self._update_buttons()
        self.update_summary()

    def _show_names(self, show: bool) -> None:
        self.model.set_show_names(show)
        self.table.setColumnHidden(PATIENT_NAME, not show)

    def selected_rows(self) -> list[int]:
        """Source-model rows of the selection."""
        rows = {self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()}
        return sorted(rows)

    def mark_selected(self, read: str) -> None:
        rows = self.selected_rows()
        self.model.mark_reviewed(rows, read)
        for index in rows:
            log_id = self.model.row(index).log_id
            if log_id is not None:
                self.reviewed.emit(log_id, read)

    def _update_buttons(self, *args) -> None:
        self.review_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def update_summary(self, *args) -> None:
        counts = self.model.counts()
        total = sum(counts.values())
        if not total:
            self.summary_label.setText("No study received yet")
            return
        parts = [f"{total} studies"]
        for state, label in ((NEW, "new"), (FLAGGED, "pneumonia suspected, to review"),
                             (NOT_SCORED, "not scored")):
            if counts[state]:
                parts.append(f"{counts[state]} {label}")
        self.summary_label.setText(" · ".join(parts))

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.openRequested.emit(self.proxy.data(index, PathRole))


def _from_record(record: StudyRecord) -> WorklistRow:
    path = Path(record.path)
    return WorklistRow(record.id, datetime.fromisoformat(record.time), record.source, path,
                       identified=False, outcome=record.outcome,
                       probability=record.probability, decision=record.decision,
                       reason=record.detail if record.outcome != "scored" else "",
                       read=record.read)
