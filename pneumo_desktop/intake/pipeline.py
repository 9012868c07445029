"""Studies that arrive by themselves (DICOM receiver, watched folder): each arrival is logged,
queued and scored in batches on a thread of its own, so the sources keep accepting meanwhile.

Scoring is injected as a `Scorer`: a callable taking a batch of paths and giving one `Outcome`
per path, in order (`predictor_scorer` wraps a `Predictor`; the GUI may score elsewhere).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from pneumo_desktop.intake.audit_log import REFUSED, SCORED, UNREADABLE, AuditLog
from pneumo_desktop.model.scoring import CSV_COLUMNS, csv_row

log = logging.getLogger(__name__)


@dataclass
class Arrival:
    """One stored instance or watched file, with what the worklist shows of it."""

    path: Path
    source: str  # "DICOM <calling AE> <address>" or "folder <path>"
    sha256: str
    received: datetime = field(default_factory=lambda: datetime.now(UTC))
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    sop_class_uid: str = ""
    patient_id: str = ""
    patient_name: str = ""  # shown only on request
    study: str = ""  # study description, else study ID / accession number
    log_id: int | None = None  # its `received` event in the audit log


@dataclass(frozen=True)
class Outcome:
    """A scored, refused or unreadable arrival: its `score` CSV row and what the log needs."""

    row: dict[str, str]  # the `score` CSV row (scoring.CSV_COLUMNS)
    model_version: str = ""
    logit: float | None = None  # the model's raw output, also for a refused study it scored
    typicality: float | None = None  # the learned check's distance / cut-off
    reason_code: str = ""  # the input check's refusal code
    #: the film as scored (uint8, bone bright) and its heat map (0..1), when asked for
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    heatmap: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def path(self) -> Path:
        return Path(self.row["path"])

    @property
    def probability(self) -> float | None:
        return float(self.row["probability"]) if self.row["probability"] else None

    @property
    def decision(self) -> str:
        return self.row["prediction"]

    @property
    def refused(self) -> bool:
        return self.row["input_check"] == "refused"

    @property
    def reason(self) -> str:
        """Why it was not scored ('' when scored)."""
        return self.row["error"]

    @property
    def event(self) -> str:
        """The audit-log event: scored, refused or unreadable."""
        if self.probability is not None:
            return SCORED
        return REFUSED if self.refused else UNREADABLE

    @property
    def flagged(self) -> bool:
        return self.decision == "PNEUMONIA"


Scorer = Callable[[list[Path]], Iterable[Outcome]]


class ScoringUnavailable(Exception):
    """Raised by a Scorer that cannot score now (no model, shutting down): the batch gets no
    outcome and stays `received` in the log, to be scored by `recover()` at the next start."""


def model_version(bundle) -> str:
    """A bundle's version as the log records it: the first 12 hex digits of its sha256."""
    return f"sha256:{bundle.card.sha256[:12]}" if bundle.card.sha256 else ""


def predictor_scorer(predictor, heatmaps: bool = False) -> Scorer:
    """A Scorer on a `Predictor` (or anything with its `bundle`, `threshold` and
    `score_files`, e.g. `RemotePredictor`): rows exactly as `pneumo-desktop score` writes them;
    with `heatmaps`, each scored outcome also carries its film and heat map."""
    version = model_version(predictor.bundle)

    def score(paths: list[Path]) -> Iterable[Outcome]:
        learned = predictor.bundle.has_learned_check
        for item in predictor.score_files(paths, heatmaps=heatmaps):
            outcome = outcome_of(item, predictor.bundle.name, predictor.threshold, learned,
                                 version)
            pred = item.prediction
            if heatmaps and pred is not None and item.image is not None:
                outcome = dataclasses.replace(outcome, image=item.image.pixels,
                                              heatmap=pred.display_heatmap)
            yield outcome
    return score


def outcome_of(item, model_name: str, threshold: float, learned: bool = True,
               version: str = "") -> Outcome:
    """The Outcome of a `ScoredFile`: its CSV row, and the logit, typicality and refusal code
    the audit log keeps for monitoring."""
    prediction = item.prediction or item.withheld
    refusal = item.refusal
    return Outcome(csv_row(item, model_name, threshold, learned), version,
                   logit=getattr(prediction, "logit", None),
                   typicality=getattr(prediction, "typicality", None),
                   reason_code=refusal.code if refusal is not None else "")


def failed_outcome(path: Path, reason: str) -> Outcome:
    """An outcome for a study whose scoring failed outright."""
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(path=str(path), error=reason)
    return Outcome(row)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(source: Path | bytes) -> dict[str, str]:
    """Identifiers from a DICOM header (file or bytes); {} for anything else."""
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(source) if isinstance(source, bytes) else source,
                             stop_before_pixels=True, force=True)
        return {
            "sop_class_uid": str(ds.get("SOPClassUID", "") or ""),
            "sop_instance_uid": str(ds.get("SOPInstanceUID", "") or ""),
            "study_instance_uid": str(ds.get("StudyInstanceUID", "") or ""),
            "patient_id": str(ds.get("PatientID", "") or ""),
            "patient_name": str(ds.get("PatientName", "") or ""),
            "study": str(ds.get("StudyDescription", "") or ds.get("StudyID", "")
                         or ds.get("AccessionNumber", "") or ""),
        }
    except Exception:  # not DICOM, or unreadable: the scorer will say why
        return {}


class ResultsCsv:
    """An append-only results CSV (the `score` columns): header written once, each row with
    one write + flush + fsync, so a reader never sees a half row. A torn last row (power
    loss mid-write) is cut off at open."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._handle = open(self.path, "a+b")  # noqa: SIM115 (open for the object's life)
        self._handle.seek(0, os.SEEK_END)
        size = self._handle.tell()
        if size:
            self._handle.seek(0)
            data = self._handle.read()
            keep = data.rfind(b"\n") + 1
            if keep < size:
                self._handle.truncate(keep)
            self._handle.seek(0, os.SEEK_END)
        if self._handle.tell() == 0:
            self._write(self._encode(dict(zip(CSV_COLUMNS, CSV_COLUMNS, strict=True))))

    @staticmethod
    def _encode(row: dict[str, str]) -> bytes:
        buffer = io.StringIO()
        csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n").writerow(row)
        return buffer.getvalue().encode("utf-8")

    def _write(self, data: bytes) -> None:
        self._handle.write(data)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def paths(self) -> set[str]:
        """The paths that already have a row."""
        with open(self.path, newline="", encoding="utf-8") as handle:
            return {row["path"] for row in csv.DictReader(handle)}

    def append(self, row: dict[str, str]) -> None:
        with self._lock:
            self._write(self._encode(row))

    def close(self) -> None:
        with self._lock:
            self._handle.close()


class IntakePipeline:
    """Logs each arrival as `received`, queues it, and scores queued arrivals in batches on
    one thread: the outcome goes to the results CSV (if any), then to `before_log` (e.g. the
    result objects for the PACS), then to the log, then to `on_outcome`. `stop()` finishes
    the batch in flight; what is still queued stays `received` without an outcome in the log
    and is scored by `recover()` at the next start.
    """

    def __init__(self, scorer: Scorer, audit: AuditLog, *, results: ResultsCsv | None = None,
                 on_outcome: Callable[[Arrival, Outcome], None] | None = None,
                 before_log: Callable[[Arrival, Outcome], None] | None = None,
                 batch_size: int = 16, linger_s: float = 0.05):
        self.scorer, self.audit, self.results = scorer, audit, results
        self.on_outcome, self.before_log = on_outcome, before_log
        self.batch_size, self.linger_s = batch_size, linger_s
        self._queue: queue.Queue[Arrival | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._pending = 0  # queued or being scored
        self._idle = threading.Condition()
        self._rows_written: set[str] = set()  # recovered paths whose CSV row exists

    def submit(self, arrival: Arrival) -> None:
        """Log the arrival (durably) and queue it; safe from any thread."""
        if arrival.log_id is None:
            arrival.log_id = self.audit.log_received(
                source=arrival.source, path=arrival.path, sha256=arrival.sha256,
                sop_instance_uid=arrival.sop_instance_uid,
                study_instance_uid=arrival.study_instance_uid)
        with self._idle:
            self._pending += 1
        self._queue.put(arrival)

    def recover(self) -> list[Arrival]:
        """Queue the studies the log received but never scored (the app stopped first)."""
        found = []
        self._rows_written = self.results.paths() if self.results else set()
        for record in self.audit.unscored():
            path = Path(record.path)
            arrival = Arrival(path, record.source, record.sha256,
                              datetime.fromisoformat(record.time),
                              record.sop_instance_uid, record.study_instance_uid,
                              log_id=record.id, **identifiers(path))
            found.append(arrival)
            self.submit(arrival)
        return found

    def start(self) -> None:
        self._stopping.clear()
        with self._queue.mutex:  # a stop sentinel left by an earlier stop()
            kept = [item for item in self._queue.queue if item is not None]
            self._queue.queue.clear()
            self._queue.queue.extend(kept)
        self._thread = threading.Thread(target=self._run, name="intake-scoring", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 60.0) -> int:
        """Finish the batch in flight and stop; returns how many stay queued (unscored)."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread:
            self._thread.join(timeout)
        with self._idle:
            return self._pending

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted has been scored (tests, benchmarks)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _next_batch(self) -> list[Arrival]:
        first = self._queue.get()
        if first is None:
            return []
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                item = self._queue.get(timeout=self.linger_s)
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while not self._stopping.is_set():
            batch = self._next_batch()
            if not batch:
                return
            self._score(batch)
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _score(self, batch: list[Arrival]) -> None:
        paths = [a.path for a in batch]
        try:
            outcomes = list(self.scorer(paths))
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} results for {len(batch)} studies")
        except ScoringUnavailable:
            log.warning("%d studies left unscored until the next start", len(batch))
            return
        except Exception as exc:  # a scorer failure must not lose the studies silently
            log.exception("scoring failed")
            outcomes = [failed_outcome(p, f"not scored: scoring failed ({exc})") for p in paths]
        for arrival, outcome in zip(batch, outcomes, strict=True):
            if self.results and str(arrival.path) not in self._rows_written:
                self.results.append(outcome.row)
            self._rows_written.discard(str(arrival.path))
            if self.before_log:  # durable before the outcome is: redone if we die between
                try:
                    self.before_log(arrival, outcome)
                except Exception:
                    log.exception("before_log failed")
            row = outcome.row
            self.audit.log_outcome(
                arrival.log_id, event=outcome.event, path=arrival.path, sha256=arrival.sha256,
                model=row["model"], model_version=outcome.model_version,
                threshold=float(row["threshold"]) if row["threshold"] else None,
                probability=outcome.probability, decision=outcome.decision,
                input_check=row["input_check"], detail=outcome.reason, logit=outcome.logit,
                typicality=outcome.typicality, reason_code=outcome.reason_code)
            if self.on_outcome:
                try:
                    self.on_outcome(arrival, outcome)
                except Exception:  # a listener's bug must not stop the scoring thread
                    log.exception("on_outcome failed")


def identifiers(path: Path) -> dict[str, str]:
    """Patient ID, patient name and study of a DICOM file ('' each for other files)."""
    info = describe(path) if path.is_file() else {}
    return {k: info.get(k, "") for k in ("patient_id", "patient_name", "study")}
