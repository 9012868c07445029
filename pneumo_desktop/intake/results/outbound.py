"""The outbound queue: result objects waiting on disk to be sent to the PACS.

Each object is two files in the queue folder, named by its key (the source's SOP Instance
UID and the kind, 'sr' or 'sc'): `<key>.dicom` (the object; not `.dcm`, which the receiver's
recovery would take for a received instance) and `<key>.json` (its state), both written
atomically, the state last: a state file is the commit. A source gets one object
of each kind, ever (`enqueue` skips a key it has). A sending thread stores due objects with
C-STORE; one that cannot be sent (PACS down, network error, refused) waits and is retried
with back-off; an object the PACS refused `max_refusals` times is *failed* and waits for the
user (`retry`). A sent object's state says so and its `.dicom` is deleted. Nothing is lost
when the process stops or dies: the next start sends what is waiting. Should it die between
the PACS's answer and the state write, the object is sent again with the same SOP Instance
UID, which a PACS stores once: each object arrives once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pydicom import Dataset

from pneumo_desktop.atomic import atomic_write_bytes
from pneumo_desktop.intake.audit_log import (
    RESULT_FAILED,
    RESULT_QUEUED,
    RESULT_RETRY,
    RESULT_SENT,
    RESULT_WAITING,
    AuditLog,
    now_utc,
)
from pneumo_desktop.intake.results.dicom_client import DEFAULT_CALLING_AE, Destination, store
from pneumo_desktop.intake.results.result_objects import encode, kind_of
from pneumo_desktop.intake.results.results_dicom import derived_uid

log = logging.getLogger(__name__)

WAITING, SENT, FAILED = "waiting", "sent", "failed"
PER_ASSOCIATION = 16  # objects sent on one association


@dataclass
class OutboundItem:
    """One result object and where it stands."""

    key: str
    kind: str  # 'sr' | 'sc'
    sop_instance_uid: str
    study_instance_uid: str
    source: str  # the received file it reports on
    ref: int | None = None  # the source's `received` event in the audit log
    state: str = WAITING
    attempts: int = 0
    refusals: int = 0
    next_try: float = 0.0  # time.time() when it may be sent
    detail: str = ""  # the last error, or where it was sent
    sent: str = ""  # when it was sent (UTC)


def item_key(source_uid: str, kind: str) -> str:
    """A file-name-safe key for a source's object of `kind`."""
    from pneumo_desktop.intake.receiver import is_uid

    return f"{source_uid if is_uid(source_uid) else derived_uid(source_uid)}.{kind}"


class OutboundQueue:
    """Result objects in `folder`, sent to `destination` (None: they wait) by a thread."""

    def __init__(self, folder: str | Path, destination: Destination | None, *,
                 calling_ae: str = DEFAULT_CALLING_AE, audit: AuditLog | None = None,
                 on_change: Callable[[OutboundItem], None] | None = None,
                 base_delay_s: float = 5.0, max_delay_s: float = 300.0,
                 max_refusals: int = 3):
        self.folder = Path(folder)
        self.destination, self.calling_ae = destination, calling_ae
        self.audit, self.on_change = audit, on_change
        self.base_delay_s, self.max_delay_s = base_delay_s, max_delay_s
        self.max_refusals = max_refusals
        self._items: dict[str, OutboundItem] = {}
        self._wake = threading.Condition()
        self._stopping = False
        self._sending = False
        self._thread: threading.Thread | None = None
        self._load()

    # -- state on disk -----------------------------------------------------------------
    def _load(self) -> None:
        """Read the state files; drop objects whose state was never written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for part in self.folder.glob(".*.part"):
            part.unlink(missing_ok=True)
        for state in sorted(self.folder.glob("*.json")):
            try:
                item = OutboundItem(**json.loads(state.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                log.error("unreadable outbound state %s: %s", state, exc)
                continue
            if item.state == WAITING:
                item.next_try = 0.0  # a restart tries at once
            self._items[item.key] = item
        for obj in self.folder.glob("*.dicom"):
            if obj.stem not in self._items:
                obj.unlink(missing_ok=True)  # enqueued, not committed: made again on rescoring

    def _save(self, item: OutboundItem) -> None:
        data = json.dumps(asdict(item), indent=1).encode("utf-8")
        atomic_write_bytes(self.folder / f"{item.key}.json", data)

    def _log(self, event: str, item: OutboundItem, detail: str) -> None:
        if self.audit is not None:
            self.audit.append(event, ref=item.ref, path=item.source,
                              sop_instance_uid=item.sop_instance_uid,
                              study_instance_uid=item.study_instance_uid,
                              detail=f"{item.kind.upper()}: {detail}" if detail
                              else item.kind.upper())

    def _changed(self, item: OutboundItem) -> None:
        if self.on_change:
            try:
                self.on_change(item)
            except Exception:  # a listener's bug must not stop the queue
                log.exception("on_change failed")

    # -- API ---------------------------------------------------------------------------
    def enqueue(self, objects: list[Dataset], *, source: str | Path, source_uid: str,
                ref: int | None = None) -> list[OutboundItem]:
        """Queue `objects` made for the source `source_uid` (durably, before returning);
        a kind this source already has is skipped. Returns the items queued now."""
        queued = []
        for ds in objects:
            kind = kind_of(ds)
            key = item_key(source_uid, kind)
            with self._wake:
                if key in self._items:
                    continue
                item = OutboundItem(key, kind, str(ds.SOPInstanceUID),
                                    str(ds.StudyInstanceUID), str(source), ref)
                atomic_write_bytes(self.folder / f"{key}.dicom", encode(ds))
                self._save(item)
                self._items[key] = item
                self._wake.notify_all()
            where = str(self.destination) if self.destination else "no destination set yet"
            self._log(RESULT_QUEUED, item, f"for {where}")
            self._changed(item)
            queued.append(item)
        return queued

    def items(self) -> list[OutboundItem]:
        with self._wake:
            return [OutboundItem(**asdict(i)) for i in self._items.values()]

    def counts(self) -> dict[str, int]:
        found = {WAITING: 0, SENT: 0, FAILED: 0}
        for item in self.items():
            found[item.state] += 1
        return found

    def set_destination(self, destination: Destination | None) -> None:
        """Send to `destination` from now on; waiting objects are tried at once."""
        with self._wake:
            self.destination = destination
            for item in self._items.values():
                if item.state == WAITING:
                    item.next_try = 0.0
            self._wake.notify_all()

    def retry(self, ref: int | None = None) -> int:
        """Failed objects (of the study `ref`, or all) wait again and are tried at once;
        returns how many (the user's "send again")."""
        again = []
        with self._wake:
            for item in self._items.values():
                if item.state == FAILED and (ref is None or item.ref == ref):
                    item.state, item.refusals, item.next_try = WAITING, 0, 0.0
                    self._save(item)
                    again.append(OutboundItem(**asdict(item)))
            self._wake.notify_all()
        for item in again:
            self._log(RESULT_RETRY, item, "sent again on the user's request")
            self._changed(item)
        return len(again)

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="outbound", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the association in flight."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is waiting (tests): every object sent or failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._wake:
            while self._sending or any(i.state == WAITING for i in self._items.values()):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._wake.wait(0.1 if left is None else min(left, 0.1))
        return True

    # -- sending -----------------------------------------------------------------------
    def _due(self) -> tuple[list[OutboundItem], float | None]:
        """Waiting items whose time has come (up to one association's worth) and, when none,
        how long until the next one."""
        now = time.time()
        waiting = [i for i in self._items.values() if i.state == WAITING]
        if self.destination is None or not waiting:
            return [], None
        due = [i for i in waiting if i.next_try <= now]
        if due:
            return due[:PER_ASSOCIATION], None
        return [], min(i.next_try for i in waiting) - now

    def _run(self) -> None:
        while True:
            with self._wake:
                while True:
                    if self._stopping:
                        return
                    batch, wait = self._due()
                    if batch:
                        break
                    self._wake.wait(wait)
                destination, self._sending = self.destination, True
            try:
                self._send(batch, destination)
            except Exception:  # e.g. a disk error: try again later, never end the thread
                log.exception("sending results failed")
                with self._wake:
                    for item in batch:
                        item.next_try = time.time() + self.max_delay_s
            finally:
                with self._wake:
                    self._sending = False
                    self._wake.notify_all()

    def _fail(self, item: OutboundItem, detail: str) -> None:
        with self._wake:
            item.state, item.detail = FAILED, detail
            self._save(item)
            snapshot = OutboundItem(**asdict(item))
        self._log(RESULT_FAILED, snapshot, detail)
        self._changed(snapshot)

    def _send(self, batch: list[OutboundItem], destination: Destination) -> None:
        import pydicom

        readable, datasets = [], []
        for item in batch:
            try:
                datasets.append(pydicom.dcmread(self.folder / f"{item.key}.dicom"))
                readable.append(item)
            except (OSError, ValueError) as exc:  # removed or damaged by hand: not retried
                self._fail(item, f"its file cannot be read: {exc}")
        results = store(destination, datasets, self.calling_ae) if datasets else []
        for item, result in zip(readable, results, strict=True):
            event = ""
            with self._wake:
                item.attempts += 1
                item.detail = result.detail
                if result.ok:
                    item.state, item.sent = SENT, now_utc()
                    item.detail = f"sent to {destination}"
                    event = RESULT_SENT
                elif result.refused and item.refusals + 1 >= self.max_refusals:
                    item.refusals += 1
                    item.state, event = FAILED, RESULT_FAILED
                else:
                    item.refusals += result.refused
                    delay = min(self.base_delay_s * 2 ** (item.attempts - 1), self.max_delay_s)
                    item.next_try = time.time() + delay
                    event = RESULT_WAITING if item.attempts == 1 or result.refused else ""
                self._save(item)
                snapshot = OutboundItem(**asdict(item))
            if result.ok:
                with contextlib.suppress(FileNotFoundError):
                    (self.folder / f"{item.key}.dicom").unlink()
            if event:
                self._log(event, snapshot, item.detail)
            self._changed(snapshot)
