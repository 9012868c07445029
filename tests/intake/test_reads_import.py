"""Reads from a RIS or reading-list CSV: by path, SOP Instance UID or Study Instance UID;
unknown studies and bad rows reported by line with nothing imported; twice adds nothing."""

from __future__ import annotations

import pytest

from pneumo_desktop.cli.main import main
from pneumo_desktop.intake.audit_log import READ, AuditLog
from pneumo_desktop.intake.reads_import import ReadsImportError, import_reads


@pytest.fixture
def audit(tmp_path):
    """Five received studies: two instances of study S1, one each of S2, S3 and a JPEG."""
    log = AuditLog(tmp_path / "audit.sqlite")
    rows = [("a.dcm", "1.2.3.1", "S1"), ("b.dcm", "1.2.3.2", "S1"), ("c.dcm", "1.2.3.3", "S2"),
            ("d.dcm", "1.2.3.4", "S3"), ("e.jpeg", "", "")]
    for i, (name, sop, study) in enumerate(rows):
        ref = log.log_received(source="test", path=tmp_path / "in" / name, sha256=f"{i:064x}",
                               sop_instance_uid=sop, study_instance_uid=study)
        log.log_outcome(ref, event="scored", path=tmp_path / "in" / name, probability=0.5,
                        decision="NORMAL", model="m")
    yield log
    log.close()


def write(tmp_path, text: str):
    path = tmp_path / "reads.csv"
    path.write_text(text, encoding="utf-8")
    return path


def reads(log: AuditLog) -> dict[str, str]:
    return {s.path.rsplit("/", 1)[-1]: s.read for s in log.studies()}


def test_paths_sop_and_study_uids(audit, tmp_path):
    csv = write(tmp_path, f"study,read\n{tmp_path / 'in' / 'e.jpeg'},Pneumonia\n"
                          "1.2.3.3,normal\nS1,pneumonia\nS3 , unsure\n")
    result = import_reads(audit, csv, reader="ris")
    assert (result.rows, result.added, result.already) == (4, 5, 0)
    assert result.by_read == {"pneumonia": 3, "normal": 1, "unsure": 1}
    assert reads(audit) == {"a.dcm": "pneumonia", "b.dcm": "pneumonia", "c.dcm": "normal",
                            "d.dcm": "unsure", "e.jpeg": "pneumonia"}
    events = audit.events(READ)
    assert {e["user"] for e in events} == {"ris"}
    assert all(e["detail"] == "imported from reads.csv" for e in events)


def test_importing_twice_adds_nothing_and_a_changed_read_is_added(audit, tmp_path):
    csv = write(tmp_path, "study,read\nS1,pneumonia\n1.2.3.3,normal\n1.2.3.3,normal\n")
    assert import_reads(audit, csv).added == 3  # the duplicate row counts once
    again = import_reads(audit, csv)
    assert (again.added, again.already) == (0, 3)
    assert len(audit.events(READ)) == 3
    corrected = write(tmp_path, "study,read\n1.2.3.3,pneumonia\n")
    assert import_reads(audit, corrected).added == 1
    assert reads(audit)["c.dcm"] == "pneumonia"


def test_unknown_studies_and_bad_rows_by_line_nothing_imported(audit, tmp_path):
    csv = write(tmp_path, "study,read\nS1,pneumonia\n9.9.9,normal\nS2,maybe\n,normal\n"
                          "1.2.3.1,normal\nS3,normal,extra\n")
    with pytest.raises(ReadsImportError) as caught:
        import_reads(audit, csv)
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 5", "line 6",
                                                   "line 7"]
    assert "unknown study '9.9.9'" in problems[0]
    assert "'maybe' is not one of pneumonia, normal, unsure" in problems[1]
    assert "contradicts line 2" in problems[3]  # 1.2.3.1 is an instance of S1
    assert audit.events(READ) == []  # nothing half-imported


def test_a_failure_inside_the_transaction_rolls_everything_back(audit, tmp_path, monkeypatch):
    csv = write(tmp_path, "study,read\nS1,pneumonia\nS2,normal\n")
    calls = []
    original = audit.log_read

    def failing(ref, read, **kw):
        if calls:
            raise OSError("disk full")
        calls.append(ref)
        return original(ref, read, **kw)

    monkeypatch.setattr(audit, "log_read", failing)
    with pytest.raises(OSError):
        import_reads(audit, csv)
    assert calls and audit.events(READ) == []


def test_missing_column_and_the_command_line(audit, tmp_path, capsys):
    bad = write(tmp_path, "accession,result\nS1,pneumonia\n")
    with pytest.raises(ReadsImportError, match="line 1: no column study, read"):
        import_reads(audit, bad)
    log_path = str(audit.path)
    good = tmp_path / "good.csv"
    good.write_text("study,read\nS2,normal\n", encoding="utf-8")
    assert main(["reads", "import", str(good), "--audit-log", log_path]) == 0
    assert "1 reads added (1 normal)" in capsys.readouterr().out
    assert main(["reads", "import", str(bad), "--audit-log", log_path]) == 2
    assert "nothing imported" in capsys.readouterr().err
    assert main(["reads", "--audit-log", log_path]) == 2  # neither --out nor import
