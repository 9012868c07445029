"""The audit log's hash chain: `audit verify` passes an intact log and names the first bad
event of one changed, deleted, inserted or reordered with sqlite3 (triggers dropped); a log of
an earlier version is upgraded once and says where its chain starts."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from pneumo_desktop.cli.main import main
from pneumo_desktop.intake.audit_chain import CHAIN_START, GENESIS, chain_hash
from pneumo_desktop.intake.audit_log import AuditLog


def _fill(log: AuditLog, studies: int = 3) -> None:
    """A received study and its score, `studies` times: events 1 to 2 * studies."""
    for i in range(studies):
        ref = log.log_received(source="DICOM CR1 10.0.0.5", path=f"/store/1.2/{i}.dcm",
                               sha256=f"{i:064x}", sop_instance_uid=f"1.2.3.{i}",
                               study_instance_uid="1.2")
        log.log_outcome(ref, event="scored", path=f"/store/1.2/{i}.dcm", model="m",
                        model_version="1", threshold=0.5, probability=0.1 + 0.3 * i,
                        decision="PNEUMONIA" if i else "NORMAL", input_check="passed")


@pytest.fixture
def intact(tmp_path) -> Path:
    path = tmp_path / "intact.sqlite"
    with AuditLog(path) as log:
        _fill(log)
    return path


def _tampered(intact: Path, *statements: str) -> Path:
    """A copy of the log changed by `statements`, as someone with sqlite3 would."""
    path = intact.with_name("tampered.sqlite")
    shutil.copy(intact, path)
    db = sqlite3.connect(path)
    db.executescript("DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete; "
                     + "; ".join(statements))
    db.close()
    return path


def _verify(path: Path, capsys, *more: str) -> tuple[int, str]:
    code = main(["audit", "verify", "--audit-log", str(path), *more])
    return code, capsys.readouterr().out


def test_an_intact_log_passes(intact, capsys):
    code, out = _verify(intact, capsys)
    assert code == 0 and "intact: 6 events" in out
    with AuditLog(intact) as log:
        report = log.verify()
        assert (report.intact, report.events, report.head_id) == (True, 6, 6)
        assert report.head_hash == log.events()[-1]["hash"]


@pytest.mark.parametrize("statements, bad", [
    (["UPDATE events SET probability = 0.05 WHERE id = 4"], 4),  # a changed probability
    (["UPDATE events SET decision = 'NORMAL' WHERE id = 6"], 6),  # the last event changed
    (["DELETE FROM events WHERE id = 3"], 4),  # deleted: the next one names the gap
    (["DELETE FROM events WHERE id = 6"], 6),  # the last one deleted
    (["UPDATE events SET id = id + 10 WHERE id >= 4", "UPDATE events SET id = id - 9 WHERE "
      "id >= 14", "INSERT INTO events (id, time, event, detail, hash) SELECT 4, time, "
      "'threshold_change', '0.5 -> 0.9', hash FROM events WHERE id = 3"], 4),  # inserted
    (["INSERT INTO events (time, event, detail) VALUES ('2026-01-01', 'read', 'x')"], 7),
    (["UPDATE events SET id = -2 WHERE id = 2", "UPDATE events SET id = 2 WHERE id = 3",
      "UPDATE events SET id = 3 WHERE id = -2"], 2),  # two events swapped
    (["UPDATE events SET hash = (SELECT hash FROM events WHERE id = 1) WHERE id = 2"], 2),
], ids=["changed", "last-changed", "deleted", "last-deleted", "inserted", "appended",
        "reordered", "hash-copied"])
def test_tampering_is_detected_naming_the_first_bad_event(intact, capsys, statements, bad):
    code, out = _verify(_tampered(intact, *statements), capsys)
    assert code == 1, out
    assert f"TAMPERED at event {bad}:" in out


def test_a_recomputed_chain_is_caught_against_a_head_written_down(intact, capsys):
    code, out = _verify(intact, capsys)
    head = out.split("chain head ")[1].split()[0]
    path = _tampered(intact, "UPDATE events SET probability = 0.05 WHERE id = 4")
    db = sqlite3.connect(path)  # the chain recomputed from the change on
    db.row_factory = sqlite3.Row
    previous = GENESIS
    for row in db.execute("SELECT * FROM events ORDER BY id").fetchall():
        previous = chain_hash(previous, dict(row))
        db.execute("UPDATE events SET hash = ? WHERE id = ?", (previous, row["id"]))
    db.commit()
    db.close()
    assert _verify(path, capsys)[0] == 0  # the chain alone cannot tell
    code, out = _verify(path, capsys, "--expect", head)
    assert code == 1 and "TAMPERED at event 6" in out and "recomputed" in out
    assert _verify(intact, capsys, "--expect", head)[0] == 0
    assert _verify(intact, capsys, "--expect", "6:xyz")[0] == 2  # usage


def test_numbers_hash_as_stored(tmp_path):
    import numpy as np

    with AuditLog(tmp_path / "a.sqlite") as log:
        log.log_outcome(None, event="scored", path="/x.dcm", threshold=1,
                        probability=np.float32(0.7))  # an int and a numpy float
        log.log_outcome(None, event="unreadable", path="/y.dcm", probability=float("nan"),
                        detail="naïve ünïcode, \"quotes\"")
        log.append("model_switch", ref=None, detail=None)
        assert log.verify().intact
        assert log.events()[1]["probability"] is None


def test_two_connections_appending_keep_one_chain(tmp_path):
    path = tmp_path / "a.sqlite"
    with AuditLog(path) as first, AuditLog(path) as second:  # e.g. the app and the CLI
        for i in range(20):
            (first if i % 3 else second).log_override("threshold_change", f"step {i}")
        assert first.verify().intact and second.verify().events == 20


_VERSION_1 = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, event TEXT NOT NULL,
    ref INTEGER REFERENCES events(id), source TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL DEFAULT '',
    sop_instance_uid TEXT NOT NULL DEFAULT '', study_instance_uid TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '', model_version TEXT NOT NULL DEFAULT '', threshold REAL,
    probability REAL, decision TEXT NOT NULL DEFAULT '', input_check TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '', user TEXT NOT NULL DEFAULT '');
CREATE INDEX events_ref ON events(ref);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
INSERT INTO events (time, event, path, sha256) VALUES ('2025-01-01T00:00:00.000+00:00',
    'received', '/store/1.2/a.dcm', 'aa');
INSERT INTO events (time, event, ref, path, probability, threshold, decision) VALUES
    ('2025-01-01T00:00:01.000+00:00', 'scored', 1, '/store/1.2/a.dcm', 0.8, 0.5, 'PNEUMONIA');
INSERT INTO events (time, event, ref, decision, user) VALUES
    ('2025-01-02T00:00:00.000+00:00', 'read', 1, 'pneumonia', 'dr-a');
"""


def test_a_log_of_version_1_is_upgraded_once(tmp_path, capsys):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(_VERSION_1)
    db.close()
    with AuditLog(path) as log:
        events = log.events()
        assert [e["event"] for e in events] == ["received", "scored", "read", CHAIN_START]
        assert "events 1 to 3" in events[3]["detail"]
        assert all(len(e["hash"]) == 64 for e in events)
        assert log.studies()[0].probability == 0.8 and log.studies()[0].read == "pneumonia"
        log.log_read(1, "normal")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            log._db.execute("UPDATE events SET path = 'x'")
    with AuditLog(path) as log:  # no second upgrade
        assert [e["event"] for e in log.events()].count(CHAIN_START) == 1
    assert _verify(path, capsys)[0] == 0
    changed = _tampered(path, "UPDATE events SET probability = 0.1 WHERE id = 2")
    code, out = _verify(changed, capsys)
    assert code == 1 and "TAMPERED at event 2" in out


def test_empty_columns_a_later_version_adds_keep_the_chain_and_are_hashed(tmp_path):
    path = tmp_path / "a.sqlite"
    with AuditLog(path) as log:
        _fill(log, 1)
        log._db.execute("ALTER TABLE events ADD COLUMN station INTEGER")
        log._db.execute("ALTER TABLE events ADD COLUMN note TEXT NOT NULL DEFAULT ''")
        assert log.verify().intact  # NULL and empty columns are left out of the canonical row
        log._db.execute("ALTER TABLE events ADD COLUMN label TEXT NOT NULL DEFAULT 'x'")
        assert log.verify().first_bad_id == 1  # a column with a value changes every row
        log._db.execute("ALTER TABLE events DROP COLUMN label")
        assert log.verify().intact
    with AuditLog(path) as log:  # knows the new column from the table itself
        log.log_override("model_switch", "a -> b")
        assert log.verify().intact
        log._db.execute("DROP TRIGGER events_no_update")
        log._db.execute("UPDATE events SET station = 8 WHERE id = 3")
        assert log.verify().first_bad_id == 3
