"""Retention: received images (STORE/<study>/<instance>.dcm, as the receiver writes them) are
deleted once older than a number of days; results.csv and the audit log keep their rows, and
the audit log records each purge with its counts. An image whose result still waits to be sent
(`pending_sources`) or that is not scored yet is kept.

The outbound queue's format (issue 19's `intake/results/outbound.py`, read here): one JSON
object per result object in STORE/outbound/<key>.json (other files, e.g. the `<key>.dicom`
objects, are ignored), naming its source image by either or both of
    "source": the received file's path (absolute, or relative to STORE)
    "source_sop_instance_uid": its SOP Instance UID (found as STORE/*/<uid>.dcm)
and "state": "waiting" or "failed" keep the source (a failed one waits for the user), "sent"
does not; a state file without "state" keeps it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.receiver import is_uid

log = logging.getLogger(__name__)

OUTBOUND = "outbound"
PURGE = "purge"  # the audit event
SOURCE_KEYS = ("source", "source_path")
UID_KEYS = ("source_sop_instance_uid",)  # ("sop_instance_uid" is the result object's own)
DONE_STATES = frozenset({"sent"})
DAY_S = 86400.0


class PendingUnknown(PneumoError):
    """An outbound state file cannot be read: what waits to be sent is unknown."""


def pending_sources(store: str | os.PathLike) -> set[Path]:
    """The received files whose results still wait to be sent (see the module docstring)."""
    store = Path(store).resolve()
    found: set[Path] = set()
    for state in sorted((store / OUTBOUND).glob("*.json")):
        try:
            item = json.loads(state.read_text(encoding="utf-8"))
        except FileNotFoundError:  # sent meanwhile
            continue
        except (OSError, ValueError) as exc:
            raise PendingUnknown(f"{state} cannot be read ({exc}): nothing is purged until "
                                 "it can") from None
        if not isinstance(item, dict):
            raise PendingUnknown(f"{state} is not a JSON object: nothing is purged")
        if item.get("state") in DONE_STATES:
            continue
        for key in SOURCE_KEYS:
            if isinstance(item.get(key), str) and item[key]:
                found.add((store / item[key]).resolve())
        for key in UID_KEYS:
            uid = item.get(key)
            if isinstance(uid, str) and is_uid(uid):
                found.update(p.resolve() for p in store.glob(f"*/{uid}.dcm"))
    return found


@dataclass(frozen=True)
class PurgeResult:
    deleted: int
    studies: int  # study folders emptied and removed
    bytes: int
    kept_pending: int  # old enough, but their results wait to be sent
    kept_unscored: int  # old enough, but not scored yet

    def summary(self) -> str:
        return (f"deleted {self.deleted} images ({self.bytes / 1e6:.1f} MB; {self.studies} "
                f"study folders emptied); kept {self.kept_pending} waiting to be sent and "
                f"{self.kept_unscored} not scored yet")


def stored_images(store: Path) -> list[Path]:
    """The images the receiver stored (STORE/<study UID>/<instance UID>.dcm)."""
    return [p for p in sorted(store.glob("*/*.dcm"))
            if is_uid(p.parent.name) and is_uid(p.stem)]


def purge(store: str | os.PathLike, older_than_days: float, audit: AuditLog | None = None, *,
          now: float | None = None, record_empty: bool = True) -> PurgeResult:
    """Delete the stored images modified more than `older_than_days` ago (0: all), except
    pending and unscored ones; record the purge in `audit` (also when nothing went, unless
    `record_empty` is False). Raises PendingUnknown, deleting nothing, when the outbound queue
    cannot be read."""
    if older_than_days < 0:
        raise PneumoError("--older-than must be 0 days or more")
    store = Path(store).resolve()
    if not store.is_dir():
        raise PneumoError(f"{store} is not a folder")
    pending = pending_sources(store)
    unscored = {Path(s.path).resolve() for s in audit.unscored()} if audit else set()
    cutoff = (time.time() if now is None else now) - older_than_days * DAY_S
    deleted = size = kept_pending = kept_unscored = 0
    folders: set[Path] = set()
    for path in stored_images(store):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if stat.st_mtime > cutoff:
            continue
        resolved = path.resolve()
        if resolved in pending:
            kept_pending += 1
            continue
        if resolved in unscored:
            kept_unscored += 1
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted, size = deleted + 1, size + stat.st_size
        folders.add(path.parent)
    emptied = 0
    for folder in folders:
        try:
            folder.rmdir()  # only when empty
            emptied += 1
        except OSError:
            pass
    result = PurgeResult(deleted, emptied, size, kept_pending, kept_unscored)
    if audit is not None and (deleted or record_empty):
        audit.append(PURGE, path=str(store), detail=f"images stored more than "
                     f"{older_than_days:g} days ago: {result.summary()}")
    log.info("purge of %s: %s", store, result.summary())
    return result


class RetentionTimer:
    """Purges `store` of images older than `days` now and then every `interval_s`, in a
    thread of its own, until `stop()`."""

    def __init__(self, store: Path, days: float, audit: AuditLog, interval_s: float = 3600.0):
        self.store, self.days, self.audit, self.interval_s = store, days, audit, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                purge(self.store, self.days, self.audit, record_empty=False)
            except Exception:  # a full or unreadable disk must not stop receiving
                log.exception("purging %s failed", self.store)
            if self._stop.wait(self.interval_s):
                return
