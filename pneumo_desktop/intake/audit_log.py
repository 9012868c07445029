"""Append-only audit log (SQLite, WAL) of every study received, scored or refused, of user
overrides, of reviewers' reads and of monitoring alerts. Rows are never updated or deleted
(triggers forbid it), and each carries a hash chained to the one before (`audit_chain`), so that
an edit made around the triggers shows in `verify()`; `synchronous=FULL` makes each event
durable when its call returns. Each event records the app version that wrote it
(`app_version`).

A scored (or refused, once the model has run) study also records the model's raw `logit`, the
learned input check's `typicality` and the refusal's `reason_code`: what input-drift
monitoring needs. Logs made before these columns existed get them (empty) when opened."""

from __future__ import annotations

import contextlib
import csv
import functools
import getpass
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pneumo_desktop import __version__
from pneumo_desktop.atomic import atomic_open
from pneumo_desktop.errors import PneumoError
from pneumo_desktop.intake.audit_chain import (
    CHAIN_START,
    GENESIS,
    HASH,
    ChainReport,
    affinity,
    chain_hash,
    stored_value,
    verify_chain,
)
from pneumo_desktop.paths import user_data_dir

#: what a row records
RECEIVED, SCORED, REFUSED, UNREADABLE = "received", "scored", "refused", "unreadable"
SCORE_ANYWAY, THRESHOLD_CHANGE, MODEL_SWITCH, READ = (
    "score_anyway", "threshold_change", "model_switch", "read")
#: a result object (SR, SC) for the PACS: queued, waiting after a failed try, sent, failed
#: (refused too often; waits for the user), sent again on the user's request
RESULT_QUEUED, RESULT_WAITING, RESULT_SENT, RESULT_FAILED, RESULT_RETRY = (
    "result_queued", "result_waiting", "result_sent", "result_failed", "result_retry")
RESULT_EVENTS = (RESULT_QUEUED, RESULT_WAITING, RESULT_SENT, RESULT_FAILED, RESULT_RETRY)
ALERT = "alert"  # a monitoring alert: `decision` = its kind, `detail` = message and action
OUTCOME_EVENTS = (SCORED, REFUSED, UNREADABLE)
OVERRIDE_EVENTS = (SCORE_ANYWAY, THRESHOLD_CHANGE, MODEL_SWITCH)
READS = ("pneumonia", "normal", "unsure")

COLUMNS = ("id", "time", "event", "ref", "source", "path", "sha256", "sop_instance_uid",
           "study_instance_uid", "model", "model_version", "threshold", "probability",
           "decision", "input_check", "detail", "user", "app_version", "logit", "typicality",
           "reason_code")
#: columns added after the first release: (name, SQL type); added to older logs when opened
ADDED_COLUMNS = (("app_version", "TEXT NOT NULL DEFAULT ''"), ("logit", "REAL"),
                 ("typicality", "REAL"), ("reason_code", "TEXT NOT NULL DEFAULT ''"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    event TEXT NOT NULL,
    ref INTEGER REFERENCES events(id),
    source TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL DEFAULT '',
    sop_instance_uid TEXT NOT NULL DEFAULT '',
    study_instance_uid TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    model_version TEXT NOT NULL DEFAULT '',
    threshold REAL,
    probability REAL,
    decision TEXT NOT NULL DEFAULT '',
    input_check TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    user TEXT NOT NULL DEFAULT '',
    app_version TEXT NOT NULL DEFAULT '',
    hash TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_ref ON events(ref);
CREATE INDEX IF NOT EXISTS events_sha256 ON events(sha256);
CREATE INDEX IF NOT EXISTS events_event ON events(event);
CREATE INDEX IF NOT EXISTS events_ref_event ON events(ref, event);
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
#: the last event's id and hash, and the highest id ever given
_LAST = (f"SELECT e.id, e.{HASH}, (SELECT seq FROM sqlite_sequence WHERE name = 'events') "
         "FROM (SELECT 1) LEFT JOIN (SELECT id, hash FROM events ORDER BY id DESC LIMIT 1) e")
_NO_UPDATE = """
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


class AuditLogError(PneumoError):
    """The audit log cannot be opened or fails its integrity check."""


def default_audit_path() -> Path:
    """`audit.sqlite` in the user's data folder."""
    return user_data_dir() / "audit.sqlite"


def now_utc() -> str:
    """An ISO 8601 UTC time stamp with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class StudyRecord:
    """One received study as the log knows it: the arrival, its latest outcome and read."""

    id: int
    time: str
    source: str
    path: str
    sha256: str
    sop_instance_uid: str
    study_instance_uid: str
    outcome: str = ""  # scored | refused | unreadable | '' (not scored yet)
    probability: float | None = None
    decision: str = ""
    threshold: float | None = None
    model: str = ""
    detail: str = ""  # the refusal or error
    read: str = ""  # pneumonia | normal | unsure | ''
    reader: str = ""
    read_time: str = ""
    logit: float | None = None
    typicality: float | None = None
    reason_code: str = ""


class AuditLog:
    """The audit log at `path` (default: the user's data folder). Thread-safe."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_audit_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()  # re-entered by `append` inside `transaction`
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous=FULL")
            problems = [row[0] for row in self._db.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            raise AuditLogError(f"audit log {self.path} cannot be opened: {exc}") from None
        if problems != ["ok"]:
            self._db.close()
            lines = "\n".join(problems).splitlines()
            raise AuditLogError(f"audit log {self.path} fails its integrity check: "
                                f"{'; '.join(lines[:3])}{' ...' if len(lines) > 3 else ''}")
        if mode.lower() != "wal":
            self._db.close()
            raise AuditLogError(f"audit log {self.path}: WAL mode unavailable ({mode})")
        self._db.executescript(_SCHEMA)
        self._add_missing_columns()
        columns = [row for row in self._db.execute("PRAGMA table_info(events)")
                   if row["name"] != HASH]  # a full row, to hash before inserting
        self._defaults = {row["name"]: "" if row["dflt_value"] == "''" else None
                          for row in columns}
        self._kinds = {row["name"]: affinity(row["type"]) for row in columns}
        self._add_chain()  # a log of an earlier version: once
        self._db.execute(_NO_UPDATE)

    def _add_chain(self) -> None:
        """Give a log written before the hash chain its `hash` column, hash its events as they
        stand now, in id order, and record where the chain starts (one transaction)."""
        def has_hash() -> bool:
            return any(row["name"] == HASH
                       for row in self._db.execute("PRAGMA table_info(events)"))

        if has_hash():
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if not has_hash():  # another process may have upgraded it meanwhile
                self._db.execute(f"ALTER TABLE events ADD COLUMN {HASH} TEXT NOT NULL "
                                 "DEFAULT ''")
                self._db.execute("DROP TRIGGER IF EXISTS events_no_update")
                previous, count = GENESIS, 0
                for row in self._db.execute("SELECT * FROM events ORDER BY id").fetchall():
                    previous = chain_hash(previous, dict(row))
                    self._db.execute(f"UPDATE events SET {HASH} = ? WHERE id = ?",
                                     (previous, row["id"]))
                    count += 1
                self._db.execute(_NO_UPDATE)
                self._insert(CHAIN_START, {
                    "detail": f"hash chain added: events 1 to {count} were written before it "
                              f"and are hashed as they stood now; the chain protects every "
                              f"event from now on", "user": _user(),
                    "app_version": __version__})
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _add_missing_columns(self) -> None:
        """Columns added since a log was made (ALTER TABLE fires no trigger; the rows are
        left as they are, with the column's default)."""
        for name, declaration in ADDED_COLUMNS:
            if name in self._column_names():
                continue
            try:
                self._db.execute(f"ALTER TABLE events ADD COLUMN {name} {declaration}")
            except sqlite3.OperationalError:  # another process added it first
                if name not in self._column_names():
                    raise

    def _column_names(self) -> set[str]:
        return {row[1] for row in self._db.execute("PRAGMA table_info(events)")}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[AuditLog]:
        """Events appended inside the block are written all together or not at all (an
        exception rolls them back); other threads wait until the block ends."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def append(self, event: str, **fields: Any) -> int:
        """Append one event; returns its id. Unknown field names raise KeyError."""
        unknown = set(fields) - set(COLUMNS[3:])
        if unknown:
            raise KeyError(f"not audit-log columns: {sorted(unknown)}")
        fields = _blank_nulls(fields)
        fields.setdefault("user", _user())
        fields.setdefault("app_version", __version__)
        with self._lock:
            if self._db.in_transaction:  # inside `transaction()`: it commits
                return self._insert(event, fields)
            self._db.execute("BEGIN IMMEDIATE")  # the previous hash stays the last one
            try:
                event_id = self._insert(event, fields)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return event_id

    def _insert(self, event: str, fields: dict[str, Any]) -> int:
        """Insert one event chained to the last one (inside a write transaction)."""
        last_id, previous, given = self._db.execute(_LAST).fetchone()
        event_id = max(last_id or 0, given or 0) + 1  # a deleted last event's id is not reused
        row = dict(self._defaults)
        row.update(fields, id=event_id, time=now_utc(), event=event)
        row = {k: stored_value(self._kinds[k], v) for k, v in row.items()}
        row[HASH] = chain_hash(previous or GENESIS, row)
        self._db.execute(f"INSERT INTO events ({', '.join(row)}) "
                         f"VALUES ({', '.join('?' for _ in row)})", list(row.values()))
        return event_id

    def log_received(self, *, source: str, path: str | os.PathLike, sha256: str,
                     sop_instance_uid: str = "", study_instance_uid: str = "") -> int:
        return self.append(RECEIVED, source=source, path=str(path), sha256=sha256,
                           sop_instance_uid=sop_instance_uid,
                           study_instance_uid=study_instance_uid)

    def log_outcome(self, ref: int | None, *, event: str, path: str | os.PathLike,
                    sha256: str = "", model: str = "", model_version: str = "",
                    threshold: float | None = None, probability: float | None = None,
                    decision: str = "", input_check: str = "", detail: str = "",
                    logit: float | None = None, typicality: float | None = None,
                    reason_code: str = "") -> int:
        """A study scored, refused by the input check, or unreadable (`event`); `logit` and
        `typicality` when the model ran, `reason_code` the refusal's code."""
        if event not in OUTCOME_EVENTS:
            raise ValueError(f"outcome event must be one of {OUTCOME_EVENTS}, not {event!r}")
        return self.append(event, ref=ref, path=str(path), sha256=sha256, model=model,
                           model_version=model_version, threshold=threshold,
                           probability=probability, decision=decision,
                           input_check=input_check, detail=detail, logit=logit,
                           typicality=typicality, reason_code=reason_code)

    def log_override(self, kind: str, detail: str, *, ref: int | None = None,
                     path: str | os.PathLike = "", **fields: Any) -> int:
        """A user override: score anyway, threshold change or model switch."""
        if kind not in OVERRIDE_EVENTS:
            raise ValueError(f"override must be one of {OVERRIDE_EVENTS}, not {kind!r}")
        return self.append(kind, ref=ref, path=str(path), detail=detail, **fields)

    def log_read(self, ref: int, read: str, *, reader: str | None = None,
                 detail: str = "") -> int:
        """A reviewer's own read of the received study `ref` (`detail`: where it came from,
        e.g. an imported reading list)."""
        if read not in READS:
            raise ValueError(f"read must be one of {READS}, not {read!r}")
        row = self._one("SELECT path, sha256 FROM events WHERE id = ? AND event = ?",
                        (ref, RECEIVED))
        if row is None:
            raise ValueError(f"no received study with id {ref}")
        return self.append(READ, ref=ref, path=row["path"], sha256=row["sha256"],
                           decision=read, detail=detail, user=reader or _user())

    def log_alert(self, kind: str, message: str, action: str) -> int:
        """A monitoring alert of `kind` (drift, refusals, agreement, calibration)."""
        return self.append(ALERT, decision=kind, detail=f"{message} | action: {action}")

    # -- reading ----------------------------------------------------------------------
    def verify(self, expect: tuple[int, str] | None = None) -> ChainReport:
        """Check every event against the hash chain (see `audit_chain.verify_chain`), on a
        connection of its own: appends go on meanwhile (after the snapshot it reads)."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN")  # one snapshot for the rows and the id counter
            given = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'"
                               ).fetchone()
            names = sorted(row[1] for row in db.execute("PRAGMA table_info(events)")
                           if row[1] != HASH)
            columns = ", ".join(f'"{name}"' for name in names)
            rows = db.execute(f"SELECT {columns}, {HASH} FROM events ORDER BY id")
            return verify_chain(rows, names, given[0] if given else 0, expect)
        finally:
            db.close()

    def _one(self, sql: str, params: tuple = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """Every event (or those of one kind), oldest first."""
        where, params = ("WHERE event = ?", (event,)) if event else ("", ())
        return [dict(row) for row in self._all(f"SELECT * FROM events {where} ORDER BY id",
                                               params)]

    def has_sha256(self, sha256: str) -> bool:
        """True when a study with this content has been received."""
        return self._one("SELECT 1 FROM events WHERE sha256 = ? AND event = ? LIMIT 1",
                         (sha256, RECEIVED)) is not None

    def received_paths(self) -> set[str]:
        return {row[0] for row in self._all("SELECT path FROM events WHERE event = ?",
                                            (RECEIVED,))}

    def unscored(self) -> list[StudyRecord]:
        """Received studies with no outcome yet (in flight when the app stopped)."""
        return [s for s in self.studies() if not s.outcome]

    def studies(self, since: str | None = None) -> list[StudyRecord]:
        """Every received study (received at `since`, an ISO time or day, or later), oldest
        first, with its latest outcome and latest read."""
        latest = "(SELECT MAX(e.id) FROM events e WHERE e.ref = r.id AND e.event IN ({}))"
        text = "IFNULL({}, '')"
        sql = f"""
            SELECT r.id, r.time, r.source, r.path, r.sha256, r.sop_instance_uid,
                   r.study_instance_uid, {text.format("o.event")}, o.probability,
                   {text.format("o.decision")}, o.threshold, {text.format("o.model")},
                   {text.format("o.detail")}, {text.format("rd.decision")},
                   {text.format("rd.user")}, {text.format("rd.time")},
                   o.logit, o.typicality, {text.format("o.reason_code")}
            FROM events r
            LEFT JOIN events o ON o.id = {latest.format(", ".join("?" * len(OUTCOME_EVENTS)))}
            LEFT JOIN events rd ON rd.id = {latest.format("?")}
            WHERE r.event = ? {"AND r.time >= ?" if since else ""} ORDER BY r.id"""
        params = (*OUTCOME_EVENTS, READ, RECEIVED, *([since] if since else []))
        with self._lock:  # plain tuples: 80 000 studies in a fraction of the time of Rows
            cursor = self._db.cursor()
            cursor.row_factory = None
            rows = cursor.execute(sql, params).fetchall()
        return [StudyRecord(*row) for row in rows]

    def result_states(self) -> dict[int, str]:
        """Per received study (its id) with result objects for the PACS: 'sent' (all sent),
        'failed' (one failed) or 'waiting' (the others), from each object's latest event."""
        rows = self._all(f"""
            SELECT ref, event FROM events WHERE id IN (
                SELECT MAX(id) FROM events WHERE event IN ({", ".join("?" * len(RESULT_EVENTS))})
                AND ref IS NOT NULL GROUP BY ref, sop_instance_uid)""", RESULT_EVENTS)
        states: dict[int, set[str]] = {}
        for ref, event in rows:
            states.setdefault(ref, set()).add(event)
        return {ref: "failed" if RESULT_FAILED in events
                else "sent" if events == {RESULT_SENT} else "waiting"
                for ref, events in states.items()}

    def reviewed_studies(self, include_unsure: bool = False) -> list[StudyRecord]:
        """Studies a reviewer has read (latest read each): labels for site adaptation.
        `read` is 'pneumonia' or 'normal' ('unsure' too when asked)."""
        keep = set(READS) if include_unsure else {"pneumonia", "normal"}
        return [s for s in self.studies() if s.read in keep]

    def export_csv(self, path: str | os.PathLike) -> int:
        """Write every event to `path` as CSV (atomically); returns the number of rows."""
        rows = self._all("SELECT * FROM events ORDER BY id")
        with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows(["" if row[c] is None else row[c] for c in COLUMNS] for row in rows)
        return len(rows)


@functools.cache
def _user() -> str:
    """The account running the app (looked up once: 90 us a call on Linux)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _blank_nulls(fields: dict[str, Any]) -> dict[str, Any]:
    """None -> '' for the text columns (the numbers and `ref` keep None)."""
    return {k: "" if v is None and k not in _NULLABLE else v for k, v in fields.items()}


_NULLABLE = frozenset({"id", "ref", "threshold", "probability", "logit", "typicality"})
