"""Runs the DICOM receiver and the watched folders for the GUI and reports arrivals and results
as Qt signals, always emitted on the GUI thread (the receiver and the scoring run on threads of
their own; their callbacks cross over through queued connections).

Scoring is injected: `set_scorer` takes a `intake.pipeline.Scorer` (e.g. `predictor_scorer(p)` for
any object with a Predictor's `bundle`, `threshold` and `score_files`); it is called on the
scoring thread, never on the GUI thread. Until a scorer is set, arrivals wait for it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal

from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.pipeline import Arrival, Outcome, Scorer, ScoringUnavailable
from pneumo_desktop.intake.receiving import ReceivingConfig, ReceivingService


class ReceiverController(QObject):
    """Start/stop the receiver and watched folders; signals arrive on the GUI thread."""

    arrived = Signal(object)  # Arrival: stored and logged, waiting for its score
    scored = Signal(object, object)  # Arrival, Outcome: scored, refused or unreadable
    flagged = Signal(object, object)  # Arrival, Outcome: a new study with pneumonia suspected
    runningChanged = Signal(bool)
    resultChanged = Signal(object)  # intake.outbound.OutboundItem: queued, waiting, sent, failed

    _arrivedAnyThread = Signal(object)
    _scoredAnyThread = Signal(object, object)
    _resultAnyThread = Signal(object)

    def __init__(self, audit: AuditLog, scorer: Scorer | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.audit = audit
        self.service: ReceivingService | None = None
        self._scorer = scorer
        self._scorer_ready = threading.Condition()
        self._stopping = False
        queued = Qt.ConnectionType.QueuedConnection
        self._arrivedAnyThread.connect(self.arrived, queued)
        self._scoredAnyThread.connect(self._on_scored, queued)
        self._resultAnyThread.connect(self.resultChanged, queued)

    @property
    def running(self) -> bool:
        return self.service is not None

    @property
    def port(self) -> int | None:
        return self.service.port if self.service else None

    def set_scorer(self, scorer: Scorer | None) -> None:
        """Score the next batches with `scorer` (a model switch); None: arrivals wait."""
        with self._scorer_ready:
            self._scorer = scorer
            self._scorer_ready.notify_all()

    def _score(self, paths: list[Path]):
        """The scorer the pipeline calls (scoring thread): waits for one to be set."""
        with self._scorer_ready:
            self._scorer_ready.wait_for(lambda: self._scorer is not None or self._stopping)
            scorer = self._scorer
        if scorer is None:
            raise ScoringUnavailable("stopping before a model was loaded")
        return list(scorer(paths))

    def start(self, config: ReceivingConfig) -> list[Arrival]:
        """Start receiving (stopping an earlier configuration first). The studies an earlier
        run left unscored are queued and announced by `arrived` like new ones; they are also
        returned. Raises OSError when the port is taken, PneumoError for a bad AE title."""
        self.stop()
        self._stopping = False
        service = ReceivingService(config, self._score, audit=self.audit,
                                   on_arrival=self._arrivedAnyThread.emit,
                                   on_outcome=self._scoredAnyThread.emit,
                                   on_result=self._resultAnyThread.emit)
        try:
            recovered = service.start()
        except BaseException:
            self._halt(service)
            raise
        self.service = service
        self.runningChanged.emit(True)
        return recovered

    def retry_failed(self, ref: int | None = None) -> int:
        """Send again the result objects the PACS refused (of the study `ref`, or all)."""
        if self.service is None or self.service.outbound is None:
            return 0
        return self.service.outbound.retry(ref)

    def stop(self) -> None:
        """Stop accepting, finish the instance being stored and the batch being scored."""
        if self.service is None:
            return
        service, self.service = self.service, None
        self._halt(service)
        self.runningChanged.emit(False)

    def _halt(self, service: ReceivingService) -> None:
        with self._scorer_ready:
            self._stopping = True
            self._scorer_ready.notify_all()
        service.stop()

    def _on_scored(self, arrival: Arrival, outcome: Outcome) -> None:
        self.scored.emit(arrival, outcome)
        if outcome.flagged:
            self.flagged.emit(arrival, outcome)
