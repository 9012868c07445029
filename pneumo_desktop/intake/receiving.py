"""`pneumo-desktop receive` without the command line: a DICOM receiver and watched folders
feeding one scoring pipeline, with the results CSV, the audit log and, when a PACS is set,
the result objects (SR, Secondary Capture) in an outbound queue to it."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.intake.audit_log import RESULT_FAILED, AuditLog
from pneumo_desktop.intake.pipeline import (
    Arrival,
    IntakePipeline,
    Outcome,
    ResultsCsv,
    Scorer,
    describe,
    sha256_file,
)
from pneumo_desktop.intake.receiver import DEFAULT_AE_TITLE, DEFAULT_PORT, StorageReceiver
from pneumo_desktop.intake.results.dicom_client import Destination
from pneumo_desktop.intake.results.outbound import OutboundItem, OutboundQueue
from pneumo_desktop.intake.retention import RetentionTimer
from pneumo_desktop.intake.tls import server_context
from pneumo_desktop.intake.watch_folder import WatchFolder
from pneumo_desktop.paths import user_data_dir

RESULTS_NAME = "results.csv"
OUTBOUND_NAME = "outbound"  # the queue folder in out_dir
log = logging.getLogger(__name__)


def default_receive_dir() -> Path:
    """Where the app stores received studies unless told otherwise."""
    return user_data_dir() / "received"
RECOVERED_SOURCE = "DICOM (stored before a restart)"
CONNECTION_REFUSED = "connection_refused"  # the audit event
LOOPBACK, ALL_ADDRESSES = "127.0.0.1", ""  # listen addresses


@dataclass
class ReceivingConfig:
    out_dir: Path  # stored instances, results.csv
    ae_title: str = DEFAULT_AE_TITLE
    port: int = DEFAULT_PORT  # 0: any free port
    host: str = ALL_ADDRESSES  # the listen address ("": every IPv4 interface)
    allowed_callers: list[str] = field(default_factory=list)  # empty: any calling AE
    watch: list[Path] = field(default_factory=list)
    receive: bool = True  # False: watched folders only
    results_csv: bool = True
    audit_path: Path | None = None  # default: the user's data folder
    batch_size: int = 16
    poll_s: float = 1.0
    send_results_to: Destination | None = None  # the PACS for SR + SC; None: not made
    retry_base_s: float = 2.0  # back-off of the outbound queue: doubles up to retry_max_s
    retry_max_s: float = 30.0
    allowed_addresses: list[str] = field(default_factory=list)  # addresses/networks; empty: any
    tls_cert: Path | None = None  # TLS when given (PEM), with tls_key
    tls_key: Path | None = None
    tls_ca: Path | None = None  # senders must show a certificate this CA signed
    retention_days: float | None = None  # delete stored images after; None: keep

    @property
    def listen_address(self) -> str:
        """The address listened on (`host`): '' for all IPv4 addresses."""
        return self.host


class ReceivingService:
    """Starts the receiver, the watched folders and the scoring pipeline; `stop()` stops
    accepting, finishes the instance being stored and the batch being scored."""

    def __init__(self, config: ReceivingConfig, scorer: Scorer, *,
                 audit: AuditLog | None = None,
                 on_arrival: Callable[[Arrival], None] | None = None,
                 on_outcome: Callable[[Arrival, Outcome], None] | None = None,
                 on_result: Callable[[OutboundItem], None] | None = None):
        self.config = config
        self.out_dir = Path(config.out_dir).resolve()
        if config.receive and (config.tls_key or config.tls_ca) and not config.tls_cert:
            raise PneumoError("TLS needs the receiver's certificate besides its key and CA")
        tls = (server_context(config.tls_cert, config.tls_key, config.tls_ca)
               if config.receive and config.tls_cert else None)
        self.receiver = StorageReceiver(
            self.out_dir, self._arrived, ae_title=config.ae_title, port=config.port,
            host=config.host, allowed_callers=config.allowed_callers,
            allowed_addresses=config.allowed_addresses, ssl_context=tls,
            on_refused=self._refused) if config.receive else None
        self.audit = audit or AuditLog(config.audit_path)
        self._own_audit = audit is None
        self.on_arrival = on_arrival
        self.results = ResultsCsv(self.out_dir / RESULTS_NAME) if config.results_csv else None
        self.outbound = OutboundQueue(
            self.out_dir / OUTBOUND_NAME, config.send_results_to, calling_ae=config.ae_title,
            audit=self.audit, on_change=on_result, base_delay_s=config.retry_base_s,
            max_delay_s=config.retry_max_s) if config.send_results_to else None
        self.pipeline = IntakePipeline(
            scorer, self.audit, results=self.results, on_outcome=on_outcome,
            before_log=self._queue_results if self.outbound else None,
            batch_size=config.batch_size)
        self.watchers = [WatchFolder(folder, self._arrived, known=self.audit.has_sha256,
                                     state_file=self.out_dir / _state_name(folder),
                                     interval_s=config.poll_s) for folder in config.watch]
        self.retention = (RetentionTimer(self.out_dir, config.retention_days, self.audit)
                          if config.retention_days is not None else None)

    @property
    def port(self) -> int | None:
        return self.receiver.port if self.receiver else None

    def _refused(self, address: str, reason: str) -> None:
        self.audit.append(CONNECTION_REFUSED, source=address, detail=reason)

    def _arrived(self, arrival: Arrival) -> None:
        self.pipeline.submit(arrival)
        if self.on_arrival:
            self.on_arrival(arrival)

    def _queue_results(self, arrival: Arrival, outcome: Outcome) -> None:
        """The SR (and SC) of a DICOM arrival, durably in the outbound queue."""
        from pneumo_desktop.intake.results.result_objects import read_header, result_objects
        from pneumo_desktop.intake.results.results_dicom import Finding

        source = read_header(arrival.path)
        if source is None or not source.get("SOPInstanceUID"):
            return  # not DICOM (a watched JPEG): no study to put results in
        try:
            objects = result_objects(source, Finding.from_row(outcome.row, outcome.model_version),
                                     outcome.image, outcome.heatmap)
        except Exception as exc:  # never silently: the log says the results are missing
            log.exception("making the result objects failed")
            self.audit.append(RESULT_FAILED, ref=arrival.log_id, path=str(arrival.path),
                              detail=f"result objects could not be made: {exc}")
            return
        self.outbound.enqueue(objects, source=arrival.path,
                              source_uid=str(source.SOPInstanceUID), ref=arrival.log_id)

    def start(self) -> list[Arrival]:
        """Recover what an earlier run left unscored, then accept; returns the recovered."""
        if self.outbound:
            self.outbound.start()
        self.pipeline.start()
        recovered = self.pipeline.recover()
        for arrival in recovered if self.on_arrival else ():
            self.on_arrival(arrival)
        recovered += self._stored_not_logged()
        if self.receiver:
            self.receiver.start()
        for watcher in self.watchers:
            watcher.start()
        if self.retention:
            self.retention.start()
        return recovered

    def _stored_not_logged(self) -> list[Arrival]:
        """Instances on disk but not in the log (stopped between the rename and the log)."""
        logged = self.audit.received_paths()
        found = []
        for path in sorted(self.out_dir.glob("*/*.dcm")):
            if str(path) not in logged:
                found.append(Arrival(path, RECOVERED_SOURCE, sha256_file(path),
                                     **describe(path)))
                self._arrived(found[-1])
        return found

    def stop(self, timeout: float = 60.0) -> int:
        """Stop everything; returns how many stored studies are left for the next start."""
        if self.receiver:
            self.receiver.stop()
        for watcher in self.watchers:
            watcher.stop()
        if self.retention:
            self.retention.stop()
        left = self.pipeline.stop(timeout)
        if self.outbound:
            self.outbound.stop(timeout)
        if self.results:
            self.results.close()
        if self._own_audit:
            self.audit.close()
        return left


def _state_name(folder: Path) -> str:
    """A state-file name per watched folder."""
    key = hashlib.sha256(os.fsencode(Path(folder).resolve())).hexdigest()[:12]
    return f".watched-{key}.jsonl"


def outcome_line(arrival: Arrival, outcome: Outcome) -> str:
    """One printed line per arrival."""
    when = arrival.received.astimezone().strftime("%H:%M:%S")
    verdict = (f"{outcome.probability:.3f} {outcome.decision}" if outcome.probability is not None
               else outcome.reason)
    return f"{when} {arrival.source}: {arrival.path} -> {verdict}"
