"""`pneumo-desktop reads import`: readers' reads from a RIS or reading-list export (CSV).

Columns `study` and `read`. A study is named by a scored file's path as results.csv gives it,
by its SOP Instance UID, or by its Study Instance UID (then the read applies to every received
instance of that study). A read is `pneumonia`, `normal` or `unsure` (any case). The file is
checked whole first: unknown studies and bad rows are reported by line number and then nothing
is imported; otherwise every read goes into the audit log in one transaction. A read the study
already has (same read, latest) is not added again, so importing a file twice adds nothing.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.intake.audit_log import READS, AuditLog, StudyRecord

COLUMNS = ("study", "read")


class ReadsImportError(PneumoError):
    """The reading list has bad rows or unknown studies: nothing was imported."""

    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"]
                                 if len(problems) > 20 else [])
        super().__init__(f"{path}: nothing imported, {len(problems)} problem(s):\n"
                         + "\n".join(shown))


@dataclass
class ReadsImport:
    """What an import did: reads added, reads the log already had, rows read."""

    path: Path
    rows: int = 0
    added: int = 0
    already: int = 0
    by_read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(READS, 0))

    def summary(self) -> str:
        counts = ", ".join(f"{n} {read}" for read, n in self.by_read.items() if n)
        return (f"{self.path.name}: {self.rows} rows, {self.added} reads added"
                + (f" ({counts})" if counts else "")
                + (f", {self.already} already in the audit log" if self.already else ""))


class StudyIndex:
    """Received studies by path, SOP Instance UID and Study Instance UID."""

    def __init__(self, studies: list[StudyRecord]):
        self.by_key: dict[str, list[StudyRecord]] = {}
        for study in studies:
            for key in {study.path, study.sop_instance_uid, study.study_instance_uid}:
                if key:
                    self.by_key.setdefault(key, []).append(study)
        for key, found in list(self.by_key.items()):  # a path also by its normalised form
            normal = os.path.normpath(key)
            if normal != key:
                self.by_key.setdefault(normal, found)

    def find(self, name: str) -> list[StudyRecord]:
        name = name.strip()
        return self.by_key.get(name) or self.by_key.get(os.path.normpath(name), []) \
            if name else []


def parse_reads(path: Path) -> tuple[list[tuple[int, str, str]], list[str]]:
    """(line, study, read) rows and the problems found, by line number."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise PneumoError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise PneumoError(f"{path} cannot be read ({exc.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ReadsImportError(path, [f"line 1: no column {', '.join(missing)} (the header "
                                      f"must name {', '.join(COLUMNS)})"])
    reader.fieldnames = header
    rows, problems = [], []
    for row in reader:
        line = reader.line_num
        study = (row.get("study") or "").strip()
        read = (row.get("read") or "").strip().lower()
        if None in row:
            problems.append(f"line {line}: more fields than the header names")
        elif not study:
            problems.append(f"line {line}: no study")
        elif read not in READS:
            problems.append(f"line {line}: read {row.get('read')!r} is not one of "
                            f"{', '.join(READS)}")
        else:
            rows.append((line, study, read))
    return rows, problems


def import_reads(audit: AuditLog, csv_path: str | os.PathLike,
                 reader: str | None = None) -> ReadsImport:
    """Import the reads in `csv_path` into `audit`: all of them, or none (`ReadsImportError`
    lists every unknown study and bad row by line)."""
    path = Path(csv_path)
    rows, problems = parse_reads(path)
    index = StudyIndex(audit.studies())
    wanted: dict[int, tuple[int, str, StudyRecord]] = {}  # study id -> (line, read, study)
    for line, name, read in rows:
        found = index.find(name)
        if not found:
            problems.append(f"line {line}: unknown study {name!r} (no received study with "
                            "this path, SOP Instance UID or Study Instance UID)")
            continue
        for study in found:
            earlier = wanted.get(study.id)
            if earlier and earlier[1] != read:
                problems.append(f"line {line}: read {read!r} contradicts line {earlier[0]} "
                                f"({earlier[1]!r}) for {name!r}")
            wanted.setdefault(study.id, (line, read, study))
    if problems:
        raise ReadsImportError(path, sorted(problems, key=_line_number))
    result = ReadsImport(path, rows=len(rows))
    detail = f"imported from {path.name}"
    with audit.transaction():
        for _line, read, study in wanted.values():
            if study.read == read:
                result.already += 1
                continue
            audit.log_read(study.id, read, reader=reader, detail=detail)
            result.added += 1
            result.by_read[read] += 1
    return result


def _line_number(problem: str) -> int:
    return int(problem.split(":", 1)[0].removeprefix("line "))
