"""Audit-log speed: appends per second (each one durable: synchronous=FULL), and, where the log
has a hash chain, the time to verify it and to open it.

    python benchmarks/bench_audit_log.py [--events 10000] [--verify-events 200000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pneumo_desktop.intake.audit_log import AuditLog


def append_events(log: AuditLog, n: int) -> float:
    """Append `n` events (a received study and its score, alternately); returns seconds."""
    start = time.perf_counter()
    ref = None
    for i in range(n):
        if i % 2 == 0:
            ref = log.log_received(source="DICOM CR1 10.0.0.5", path=f"/store/1.2/{i}.dcm",
                                   sha256=f"{i:064x}", sop_instance_uid=f"1.2.3.{i}",
                                   study_instance_uid="1.2")
        else:
            log.log_outcome(ref, event="scored", path=f"/store/1.2/{i - 1}.dcm",
                            model="pneumo-compact", model_version="2", threshold=0.5,
                            probability=(i % 997) / 997, decision="NORMAL",
                            input_check="passed")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--verify-events", type=int, default=0,
                        help="also build a log this large (synchronous=OFF) and time "
                             "opening and verifying it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with AuditLog(Path(tmp) / "audit.sqlite") as log:
            seconds = append_events(log, args.events)
        print(f"{args.events} appends in {seconds:.2f} s: {args.events / seconds:.0f} appends/s")
        if args.verify_events and hasattr(AuditLog, "verify"):
            path = Path(tmp) / "big.sqlite"
            with AuditLog(path) as log:
                log._db.execute("PRAGMA synchronous=OFF")  # building only
                append_events(log, args.verify_events)
            start = time.perf_counter()
            log = AuditLog(path)
            opened = time.perf_counter() - start
            start = time.perf_counter()
            report = log.verify()
            verified = time.perf_counter() - start
            log.close()
            print(f"{args.verify_events} events: open {opened:.2f} s, verify {verified:.2f} s "
                  f"({report.summary()})")


if __name__ == "__main__":
    main()
