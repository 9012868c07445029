"""The audit log's hash chain: each event's `hash` is SHA-256 over the previous event's hash and
the event's canonical row (JSON, sorted keys, of every column but `hash`; NULL and empty
columns left out, so a later version may add columns without breaking the hashes of the events
before), so a changed, deleted, inserted or reordered event breaks the chain from that event on.

The chain shows tampering by someone who edits the file with sqlite3; someone who also
recomputes every later hash is caught only against a head written down earlier (`verify_chain`
`expect`: an event id and its hash, as `pneumo-desktop audit verify` prints them).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

HASH = "hash"
GENESIS = "0" * 64  # the "previous hash" of the first event
CHAIN_START = "chain_start"  # the event an upgraded log records where its chain starts
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_ENCODE_IN_ORDER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def affinity(declared_type: str) -> str:
    """SQLite's type affinity of a column declared `declared_type` (its rules, simplified):
    'integer', 'text', 'real' or 'other'."""
    declared = declared_type.upper()
    if "INT" in declared:
        return "integer"
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "other"


def stored_value(kind: str, value: Any) -> Any:
    """`value` as SQLite gives it back from a column of affinity `kind`, so that it hashes the
    same before the insert and after reading: text as str (None as ''), real as float (NaN,
    which SQLite stores as NULL, as None), integer as int; others as they are."""
    if value is None:
        return "" if kind == "text" else None
    if kind == "integer":
        return int(value)
    if kind == "real":
        value = float(value)
        return None if math.isnan(value) else value
    if kind == "text":
        return str(value)
    return value


def canonical(row: dict[str, Any]) -> bytes:
    """The bytes hashed for one event: JSON with sorted keys of every column but `hash` that
    holds a value (not NULL, not empty text): a column a later version adds, NULL or '' in the
    events before it, leaves their hashes as they were."""
    return _ENCODE({k: v for k, v in row.items() if k != HASH and v is not None and v != ""}
                   ).encode("utf-8")


def chain_hash(previous: str, row: dict[str, Any]) -> str:
    """The hash of `row` chained to the `previous` event's hash."""
    return hashlib.sha256(previous.encode("ascii") + b"\n" + canonical(row)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What `verify_chain` found."""

    events: int  # events checked
    first_bad_id: int | None = None  # None: intact
    problem: str = ""
    head_id: int = 0  # the last event and its hash (to write down and compare later)
    head_hash: str = GENESIS

    @property
    def intact(self) -> bool:
        return self.first_bad_id is None

    def summary(self) -> str:
        if self.intact:
            return (f"intact: {self.events} events, chain head {self.head_id}:"
                    f"{self.head_hash}")
        return f"TAMPERED at event {self.first_bad_id}: {self.problem}"


def verify_chain(rows: Iterable[Sequence[Any]], names: Sequence[str], sequence: int = 0,
                 expect: tuple[int, str] | None = None) -> ChainReport:
    """Check `rows` (every event in id order, as tuples: the values of the columns `names`, in
    sorted order and without `hash`, then the hash) against their hashes.

    `sequence` is the highest id ever given (SQLite's AUTOINCREMENT counter): a larger one
    than the last event's id means events at the end were deleted. `expect` (id, hash): a head
    written down earlier, which must still be there (catches a recomputed chain)."""
    names = list(names)
    if names != sorted(names) or HASH in names:
        raise ValueError("names: the columns but hash, sorted")
    at_id = names.index("id")
    previous, last_id, count = GENESIS, 0, 0
    expect_seen = expect is None
    for values in rows:
        event_id, stored = values[at_id], values[-1]
        if event_id != last_id + 1:
            problem = (f"comes after event {last_id}: events {last_id + 1} to {event_id - 1} "
                       "are missing" if event_id > last_id + 1
                       else f"comes after event {last_id}: out of order")
            return ChainReport(count, event_id, problem, last_id, previous)
        body = _ENCODE_IN_ORDER({name: value for name, value in zip(names, values, strict=False)
                                 if value is not None and value != ""}).encode("utf-8")
        if stored != hashlib.sha256(previous.encode("ascii") + b"\n" + body).hexdigest():
            problem = ("its hash does not match its contents and the events before it "
                       "(changed, inserted, moved, or an earlier event deleted)")
            return ChainReport(count, event_id, problem, last_id, previous)
        if expect is not None and event_id == expect[0]:
            if stored != expect[1]:
                return ChainReport(count, event_id, "its hash is not the one written down "
                                   f"earlier ({expect[1]}): the chain was recomputed",
                                   last_id, previous)
            expect_seen = True
        previous, last_id, count = stored, event_id, count + 1
    if sequence > last_id:
        return ChainReport(count, last_id + 1, f"events {last_id + 1} to {sequence} were "
                           "written and are gone (deleted at the end)", last_id, previous)
    if not expect_seen:
        return ChainReport(count, expect[0], "the event written down earlier is gone",
                           last_id, previous)
    return ChainReport(count, None, "", last_id, previous)


def parse_expect(text: str) -> tuple[int, str]:
    """'ID:HASH' (as `audit verify` prints the chain head) -> (id, hash)."""
    event_id, _, digest = text.partition(":")
    if not event_id.isdigit() or len(digest) != 64:
        raise ValueError(f"expected ID:HASH (as 'audit verify' prints it), not {text!r}")
    return int(event_id), digest.lower()
