"""Audit log: append-only, WAL, survives reopen, integrity check, reads as labels, CSV export."""

from __future__ import annotations

import csv
import sqlite3
import threading

import pytest

from pneumo_desktop.intake.audit_log import (
    COLUMNS,
    AuditLog,
    AuditLogError,
    default_audit_path,
)


def _study(log: AuditLog, name: str = "a.dcm", sha: str = "ab" * 32) -> int:
    return log.log_received(source="DICOM CR1 127.0.0.1", path=f"/in/{name}", sha256=sha,
                            sop_instance_uid="1.2.3", study_instance_uid="1.2")


def test_survives_reopen_in_wal_mode_and_passes_integrity_check(tmp_path):
    path = tmp_path / "audit.sqlite"
    with AuditLog(path) as log:
        ref = _study(log)
        log.log_outcome(ref, event="scored", path="/in/a.dcm", model="m", model_version="v",
                        threshold=0.5, probability=0.91, decision="PNEUMONIA",
                        input_check="passed")
    with AuditLog(path) as log:
        assert [e["event"] for e in log.events()] == ["received", "scored"]
        study, = log.studies()
        assert (study.outcome, study.probability, study.decision) == ("scored", 0.91,
                                                                        "PNEUMONIA")
        assert log.unscored() == []
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_rows_cannot_be_changed_or_deleted(tmp_path):
    with AuditLog(tmp_path / "audit.sqlite") as log:
        _study(log)
        for sql in ("UPDATE events SET path = 'x'", "DELETE FROM events"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                log._db.execute(sql)
        assert log.events()[0]["path"] == "/in/a.dcm"


def test_a_corrupt_file_is_reported_not_overwritten(tmp_path):
    path = tmp_path / "audit.sqlite"
    junk = b"this is not a database" * 100
    path.write_bytes(junk)
    with pytest.raises(AuditLogError, match="audit.sqlite"):
        AuditLog(path)
    assert path.read_bytes() == junk


def test_damaged_pages_fail_the_integrity_check(tmp_path):
    path = tmp_path / "audit.sqlite"
    with AuditLog(path) as log:
        for i in range(300):
            _study(log, f"{i}.dcm", f"{i:064x}")
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[3 * page + 100:3 * page + 400] = b"\xff" * 300  # scribble over an index/table page
    path.write_bytes(bytes(data))
    with pytest.raises(AuditLogError, match="fails its integrity check"):
        AuditLog(path)


def test_unscored_reads_and_labels(tmp_path):
    with AuditLog(tmp_path / "audit.sqlite") as log:
        first, second, third = (_study(log, f"{n}.dcm", f"{n:064x}") for n in range(3))
        log.log_outcome(first, event="scored", path="/in/0.dcm", probability=0.2,
                        decision="NORMAL", threshold=0.5)
        log.log_outcome(second, event="refused", path="/in/1.dcm", input_check="refused",
                        detail="not scored: adult patient (age 64 years)")
        assert [s.id for s in log.unscored()] == [third]
        log.log_read(first, "pneumonia", reader="dr-a")
        log.log_read(first, "normal", reader="dr-b")  # the latest read counts
        log.log_read(second, "unsure")
        with pytest.raises(ValueError):
            log.log_read(first, "maybe")
        with pytest.raises(ValueError):
            log.log_read(99, "normal")
        labels = log.reviewed_studies()
        assert [(s.path, s.read, s.reader) for s in labels] == [("/in/0.dcm", "normal", "dr-b")]
        assert {s.read for s in log.reviewed_studies(include_unsure=True)} == {"normal",
                                                                                "unsure"}
        refused = next(s for s in log.studies() if s.id == second)
        assert refused.outcome == "refused" and "adult" in refused.detail
        assert log.has_sha256(f"{1:064x}") and not log.has_sha256("0" * 63 + "9")


def test_overrides_are_logged(tmp_path):
    with AuditLog(tmp_path / "audit.sqlite") as log:
        ref = _study(log)
        log.log_override("score_anyway", "outside what the model was made for: lateral view",
                         ref=ref, path="/in/a.dcm", probability=0.7)
        log.log_override("threshold_change", "0.955 -> 0.900", threshold=0.9)
        log.log_override("model_switch", "pneumo-compact-224-x2 -> clinic-v2", model="clinic-v2")
        with pytest.raises(ValueError):
            log.log_override("delete_everything", "")
        kinds = [e["event"] for e in log.events()]
        assert kinds == ["received", "score_anyway", "threshold_change", "model_switch"]
        assert log.events("threshold_change")[0]["threshold"] == 0.9
        assert all(e["user"] for e in log.events())


def test_concurrent_appends_keep_every_event(tmp_path):
    with AuditLog(tmp_path / "audit.sqlite") as log:
        def work(k: int) -> None:
            for i in range(50):
                _study(log, f"{k}-{i}.dcm", f"{k:032x}{i:032x}")

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({e["path"] for e in log.events("received")}) == 200


def test_csv_export(tmp_path):
    with AuditLog(tmp_path / "audit.sqlite") as log:
        ref = _study(log)
        log.log_outcome(ref, event="unreadable", path="/in/a.dcm",
                        detail="a.dcm: truncated JPEG, with a comma")
        log.log_read(ref, "unsure")
        out = tmp_path / "export" / "audit.csv"
        assert log.export_csv(out) == 3
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert [r["event"] for r in rows] == ["received", "unreadable", "read"]
    assert rows[1]["detail"] == "a.dcm: truncated JPEG, with a comma"
    assert rows[1]["ref"] == rows[0]["id"] and rows[0]["ref"] == ""
    assert [p.name for p in out.parent.iterdir()] == ["audit.csv"]  # no temporary left


def test_default_location_is_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(tmp_path / "data"))
    assert default_audit_path() == tmp_path / "data" / "audit.sqlite"
    with AuditLog() as log:
        _study(log)
    assert (tmp_path / "data" / "audit.sqlite").is_file()


def test_each_event_records_the_app_version(tmp_path):
    from pneumo_desktop import __version__

    with AuditLog(tmp_path / "audit.sqlite") as log:
        ref = _study(log)
        log.log_read(ref, "normal")
        assert [e["app_version"] for e in log.events()] == [__version__, __version__]
        log.export_csv(tmp_path / "audit.csv")
    with open(tmp_path / "audit.csv", newline="", encoding="utf-8") as handle:
        assert {row["app_version"] for row in csv.DictReader(handle)} == {__version__}


def test_a_log_made_before_the_app_version_column_gains_it(tmp_path):
    """Logs written by 0.2.0 and earlier: opened, they get the column; their events keep it
    empty, stay append-only, and an older app can still append to the log."""
    from pneumo_desktop import __version__
    from pneumo_desktop.intake import audit_log

    old_schema = audit_log._SCHEMA.replace(",\n    app_version TEXT NOT NULL DEFAULT ''", "")
    assert old_schema != audit_log._SCHEMA
    path = tmp_path / "audit.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    old.executescript(old_schema)
    insert = "INSERT INTO events (time, event, path) VALUES ('2026-11-26T00:00:00', ?, ?)"
    old.execute(insert, ("received", "/in/old.dcm"))
    old.close()
    with AuditLog(path) as log:
        _study(log, "new.dcm", "cd" * 32)
        assert [(e["path"], e["app_version"]) for e in log.events()] == [
            ("/in/old.dcm", ""), ("/in/new.dcm", __version__)]
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            log._db.execute("UPDATE events SET app_version = 'x'")
    with AuditLog(path) as log:  # opened again: the column is not added twice
        assert len(log.events()) == 2
    older_app = sqlite3.connect(path, isolation_level=None)
    older_app.execute(insert, ("received", "/in/older-app.dcm"))
    older_app.close()
    with AuditLog(path) as log:
        assert log.events()[-1]["app_version"] == ""
        assert log._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
