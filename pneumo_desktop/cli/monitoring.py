"""`pneumo-desktop reads import`, `monitor` and `reference`: reads from the RIS, monitoring
from the audit log, and the drift reference of a bundle."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

EXIT_OK, EXIT_USAGE = 0, 2


def add_parsers(sub) -> None:
    monitor = sub.add_parser("monitor", help="how the model is doing here: volume, refusals, "
                                             "agreement with the reads, calibration, input "
                                             "drift and alerts, from the audit log")
    monitor.add_argument("--audit-log", help="audit log file (default: in the user data folder)")
    monitor.add_argument("--model", help="the active model's bundle (default: the shipped model)")
    monitor.add_argument("--since", type=_day, help="only studies received on this day "
                                                    "(YYYY-MM-DD, UTC) or later")
    monitor.add_argument("--window", type=int, default=200,
                         help="recent studies the drift and refusal figures look at "
                              "(default 200)")
    monitor.add_argument("--json", action="store_true", help="print the figures as JSON")
    monitor.add_argument("--no-log", action="store_true",
                         help="do not log the alerts in the audit log")

    reference = sub.add_parser("reference", help="store the input-drift reference (score and "
                                                 "typicality on the validation split) in a "
                                                 "bundle's model.json")
    reference.add_argument("data", help="the training folder of the model")
    reference.add_argument("--model", required=True, help="model bundle folder to update")
    reference.add_argument("--holdout", action="append", default=[],
                           help="the holdout folder(s) the model was trained with")


def add_reads_import(reads: argparse.ArgumentParser) -> None:
    """`reads import CSV` beside `reads --out DIR` (the labelled-folder export)."""
    reads.add_argument("action", nargs="?", choices=["import"],
                       help="import: add the reads of a RIS or reading-list CSV (columns "
                            "study, read) to the audit log")
    reads.add_argument("csv", nargs="?", help="the CSV to import")
    reads.add_argument("--reader", help="who read them (default: the user running this)")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def reads_import(args) -> int:
    from pneumo_desktop.intake.audit_log import AuditLog
    from pneumo_desktop.intake.reads_import import import_reads

    if not args.csv:
        print("error: reads import needs the CSV file", file=sys.stderr)
        return EXIT_USAGE
    with AuditLog(args.audit_log) as audit:
        result = import_reads(audit, args.csv, reader=args.reader)
    print(result.summary())
    return EXIT_OK


def monitor(args) -> int:
    from pneumo_desktop.intake.audit_log import AuditLog
    from pneumo_desktop.model.bundle import default_bundle_path, read_bundle
    from pneumo_desktop.monitoring.report import monitor as build

    if args.window < 1:
        print("error: --window must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    card = read_bundle(args.model or default_bundle_path(), verify=False).card
    with AuditLog(args.audit_log) as audit:
        report = build(audit, card, since=args.since, window=args.window,
                       log_alerts=not args.no_log)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return EXIT_OK


def reference(args) -> int:
    from pneumo_desktop.training.reference import derive_reference, write_reference

    section = derive_reference(args.data, args.model, args.holdout)
    path = write_reference(args.model, section)
    print(f"saved the drift reference ({section['n']} films) in {path}", file=sys.stderr)
    return EXIT_OK
