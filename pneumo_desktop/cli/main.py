"""`pneumo-desktop` command line: score, train, evaluate, self-test; no argument starts the GUI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pneumo_desktop import __version__
from pneumo_desktop.cli import monitoring
from pneumo_desktop.cli.progress import ProgressBar

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pneumo-desktop",
        description="Pediatric chest X-ray pneumonia screening (decision support only). "
                    "Without a command, the desktop app starts.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")

    score = sub.add_parser("score", help="score images and folders into a CSV")
    score.add_argument("paths", nargs="+", help="image files (JPEG, PNG, TIFF, DICOM) or folders")
    score.add_argument("--out", required=True, help="CSV file to write")
    score.add_argument("--model", help="model bundle folder (default: the shipped model)")
    score.add_argument("--heatmaps", help="folder for heat-map overlay PNGs")
    score.add_argument("--dicom-results", metavar="DIR",
                       help="for DICOM inputs, also write the result objects a PACS takes (an "
                            "SR per study, a heat-map Secondary Capture per scored one) into DIR")
    score.add_argument("--threshold", type=float, help="decision threshold (default: the model's)")
    score.add_argument("--batch-size", type=int, default=16)
    score.add_argument("--no-input-check", action="store_true",
                       help="score every image, also those the input check refuses (they are "
                            "marked 'scored anyway' in the input_check column)")
    _engine_option(score)

    train = sub.add_parser("train", help="train or fine-tune a model on a labelled folder")
    train.add_argument("data", help="folder with NORMAL/ and PNEUMONIA/ (or train/val/test/...)")
    train.add_argument("--out", required=True, help="bundle folder to write")
    train.add_argument("--arch", default="compact_cnn")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--image-size", type=int, default=224)
    train.add_argument("--lr", type=float, help="learning rate (1e-3; 1e-4 when fine-tuning)")
    train.add_argument("--init-from", help="bundle to fine-tune from")
    train.add_argument("--folds", type=int, default=0, help="k-fold cross-validation first")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--target-sensitivity", type=float, default=0.95)
    train.add_argument("--val-fraction", type=float, default=0.15)
    train.add_argument("--test-fraction", type=float, default=0.15)
    train.add_argument("--holdout", action="append", default=[],
                       help="folder of studies to exclude from training (same file names)")
    train.add_argument("--equalize", choices=["none", "clahe"], default="none")
    train.add_argument("--name", help="model name in the card (default: the folder name)")
    train.add_argument("--limit", type=int, default=0, help="use at most N images (quick runs)")
    train.add_argument("--ensemble-with", action="append", default=[], metavar="DIR",
                       help="average the new model with this bundle (same split; repeatable)")
    train.add_argument("--init-seed", type=int, help="weight-initialisation seed (default --seed)")
    train.add_argument("--shift-calibration", action="store_true",
                       help="fit the calibration on the validation split and a shifted copy of "
                            "it (other exposures, machines, framing), so that it holds better "
                            "at other hospitals")
    train.add_argument("--border-masking", type=float, default=0.0, metavar="P",
                       help="mask each side of a training image with probability P (a band up "
                            "to 15 %% of the side, filled with the mean grey): the neck, "
                            "markers and labels then carry no signal (default 0: off)")
    train.add_argument("--marks", type=float, default=0.0, metavar="P",
                       help="burn a random white or black bar into the top or bottom band of "
                            "a training image with probability P, so markers and labels carry "
                            "no signal (default 0: off)")
    train.add_argument("--precision", choices=["auto", "float32", "mixed_float16"],
                       default="auto", help="compute precision while training (auto: "
                                            "mixed_float16 on a GPU, float32 on the CPU); the "
                                            "saved model is float32 either way")
    tune = train.add_argument_group(
        "fine-tuning (--init-from) on a clinic's small set; defaults: the measured recipe")
    tune.add_argument("--trainable", choices=["head", "top", "all"], default="top",
                      help="layers that learn: the dense head, the last block of each member "
                           "and the head (default), or all")
    tune.add_argument("--train-batch-norm", action="store_true",
                      help="let batch norm re-estimate its statistics (default: frozen)")
    tune.add_argument("--cross-fit-folds", type=int, default=5,
                      help="k-fold by patient for the out-of-fold threshold and figures, then "
                           "a final model on every study; 0: the old validation-split route")
    tune.add_argument("--inner-val-fraction", type=float, default=0.2,
                      help="inner split whose validation loss picks each fold's epochs")
    tune.add_argument("--fine-tune-augment", type=float, default=0.5, metavar="STRENGTH",
                      help="augmentation strength when fine-tuning (from scratch: 1)")

    evaluate = sub.add_parser("evaluate", help="evaluate a model on a labelled folder")
    evaluate.add_argument("data")
    evaluate.add_argument("--model", help="model bundle folder (default: the shipped model)")
    evaluate.add_argument("--out", required=True, help="JSON report to write")
    evaluate.add_argument("--plots", help="folder for ROC / confusion-matrix PNGs")
    evaluate.add_argument("--threshold", type=float)

    calibrate = sub.add_parser("calibrate", help="recalibrate a model and set its threshold on "
                                                 "the clinic's own labelled studies (no training)")
    calibrate.add_argument("data", help="folder with NORMAL/ and PNEUMONIA/ of this hospital")
    calibrate.add_argument("--model", help="model bundle folder (default: the shipped model)")
    calibrate.add_argument("--out", required=True, help="bundle folder to write")
    calibrate.add_argument("--target-sensitivity", type=float, default=0.95)
    calibrate.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    calibrate.add_argument("--name", help="model name in the card (default: the folder name)")

    shift = sub.add_parser("shift-calibrate", help="re-fit a model's calibration on its "
                                                   "validation split and a shifted copy of it, "
                                                   "so that it holds better at other hospitals "
                                                   "(no training; decisions unchanged)")
    shift.add_argument("data", help="the training folder of the model")
    shift.add_argument("--model", help="model bundle folder (default: the shipped model)")
    shift.add_argument("--out", required=True, help="bundle folder to write")
    shift.add_argument("--holdout", action="append", default=[],
                       help="the holdout folder(s) the model was trained with")
    shift.add_argument("--name", help="model name in the card (default: the model's)")

    check = sub.add_parser("input-check", help="fit a bundle's learned input check (again) on "
                                               "the data and patient split it was trained on")
    check.add_argument("data", help="the training folder of the model")
    check.add_argument("--model", required=True, help="model bundle folder to update")
    check.add_argument("--holdout", action="append", default=[],
                       help="the holdout folder(s) the model was trained with")

    receive = sub.add_parser("receive", help="receive studies from an X-ray machine or PACS "
                                             "(DICOM C-STORE) and score them as they arrive")
    receive.add_argument("--port", type=int, default=11112, help="TCP port (default 11112)")
    receive.add_argument("--ae", default="PNEUMO", help="this receiver's AE title")
    receive.add_argument("--out", required=True,
                         help="folder for the stored studies and results.csv")
    receive.add_argument("--model", help="model bundle folder (default: the shipped model)")
    receive.add_argument("--allow", nargs="+", action="extend", default=[], metavar="AE",
                         help="accept only these calling AE titles")
    receive.add_argument("--watch", action="append", default=[], metavar="FOLDER",
                         help="also score new files dropped into this folder")
    receive.add_argument("--host", "--listen-address", dest="host", default="",
                         help="address to listen on (default: all; 127.0.0.1: this computer "
                              "only)")
    receive.add_argument("--audit-log", help="audit log file (default: in the user data folder)")
    receive.add_argument("--send-results-to", metavar="AE@HOST:PORT",
                         help="send an SR per received radiograph and a heat-map Secondary "
                              "Capture per scored one to this PACS (queued on disk until sent)")
    receive.add_argument("--retry-failed", action="store_true",
                         help="send again the result objects the PACS refused earlier")
    receive.add_argument("--send-results-tls-ca", metavar="CA",
                         help="send results over TLS: the CA certificate (PEM) that signed "
                              "the PACS's certificate")
    receive.add_argument("--send-results-tls-cert", metavar="CERT",
                         help="this app's certificate (PEM) for a PACS that asks for one")
    receive.add_argument("--send-results-tls-key", metavar="KEY",
                         help="its private key (PEM)")
    _engine_option(receive)
    secure = receive.add_argument_group("security (see docs/security.md)")
    secure.add_argument("--allow-address", nargs="+", action="extend", default=[],
                        metavar="ADDR_OR_NETWORK", help="accept connections only from these "
                        "IPv4/IPv6 addresses or networks (e.g. 10.0.0.5 10.0.1.0/24)")
    secure.add_argument("--tls-cert", help="this receiver's certificate (PEM): DICOM over TLS")
    secure.add_argument("--tls-key", help="the certificate's private key (PEM)")
    secure.add_argument("--tls-ca", help="CA certificate (PEM): accept only senders whose "
                                         "certificate it signed")
    secure.add_argument("--delete-after", type=float, metavar="DAYS",
                        help="delete stored images older than DAYS (checked hourly; default: "
                             "keep them)")

    audit = sub.add_parser("audit", help="check the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the audit log's hash chain: exit 0 when "
                                                 "intact, 1 naming the first bad event")
    verify.add_argument("--audit-log", help="audit log file (default: in the user data folder)")
    verify.add_argument("--expect", metavar="ID:HASH",
                        help="a chain head printed by an earlier verify: it must still be there")

    purge = sub.add_parser("purge", help="delete received images older than a number of days "
                                         "(results.csv and the audit log keep their rows)")
    purge.add_argument("store", help="the receiver's folder (receive --out)")
    purge.add_argument("--older-than", type=float, required=True, metavar="DAYS",
                       help="delete images stored more than DAYS days ago (0: all)")
    purge.add_argument("--audit-log", help="audit log file (default: in the user data folder)")
    reads = sub.add_parser("reads", help="lay out the studies read in the worklist as a "
                                         "labelled folder (NORMAL/, PNEUMONIA/) for calibrate "
                                         "or train --init-from")
    reads.add_argument("--out", help="new folder to write")
    reads.add_argument("--audit-log", help="audit log file (default: in the user data folder)")
    monitoring.add_reads_import(reads)
    monitoring.add_parsers(sub)

    _engine_option(sub.add_parser("self-test",
                                  help="load the default model and score a synthetic image"))
    gui = sub.add_parser("gui", help="start the desktop app")
    gui.add_argument("paths", nargs="*", help="an image to open, or files/folders to score")
    return parser


def _engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=("litert", "tensorflow"), default=None,
                        help="what runs the model: LiteRT (default; starts in a fraction of a "
                             "second) or TensorFlow (the training runtime)")


def _say_engine(predictor) -> None:
    """Say on stderr when scoring does not run on the bundle's own .tflite."""
    if predictor.engine != "litert" or not predictor.bundle.has_tflite:
        print(f"engine: {predictor.engine_note}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    if not argv:
        return _gui()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    handlers = {"score": _score, "train": _train, "evaluate": _evaluate,
                "input-check": _input_check, "calibrate": _calibrate, "receive": _receive,
                "shift-calibrate": _shift_calibrate,
                "reads": _reads, "monitor": monitoring.monitor,
                "reference": monitoring.reference, "audit": _audit, "purge": _purge,
                "self-test": _self_test, "gui": lambda a: _gui(a.paths)}
    from pneumo_desktop.errors import PneumoError

    try:
        return handlers[args.command](args)
    except PneumoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if args.command != "self-test" else EXIT_FAILURE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def _bundle(path: str | None):
    from pneumo_desktop.model.bundle import default_bundle_path, read_bundle

    return read_bundle(Path(path) if path else default_bundle_path())


def _score(args) -> int:
    from pneumo_desktop.errors import PneumoError
    from pneumo_desktop.imaging.discovery import collect_inputs

    paths = collect_inputs(args.paths)
    if not paths:
        print("error: no images found in the given paths", file=sys.stderr)
        return EXIT_USAGE
    if args.threshold is not None and not 0 < args.threshold < 1:
        print("error: --threshold must be between 0 and 1", file=sys.stderr)
        return EXIT_USAGE
    if Path(args.out).is_dir():
        print(f"error: --out {args.out} is a folder; give a CSV file name", file=sys.stderr)
        return EXIT_USAGE
    for option, folder in (("--heatmaps", args.heatmaps), ("--dicom-results", args.dicom_results)):
        if folder and Path(folder).exists() and not Path(folder).is_dir():
            print(f"error: {option} {folder} is a file; give a folder", file=sys.stderr)
            return EXIT_USAGE
    try:
        bundle = _bundle(args.model)
    except PneumoError as exc:
        print(f"error: no usable model: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from pneumo_desktop.model.inference import Predictor
    from pneumo_desktop.model.scoring import score_to_csv

    predictor = Predictor(bundle, batch_size=args.batch_size, threshold=args.threshold,
                          input_check=not args.no_input_check, engine=args.engine)
    _say_engine(predictor)
    if not bundle.has_learned_check:
        print(f"warning: {bundle.name} has no learned input check; only DICOM tags and pixels "
              "are checked", file=sys.stderr)
    bar = ProgressBar(len(paths))
    writer = None
    if args.dicom_results:
        from pneumo_desktop.cli.results import DicomResultsWriter

        writer = DicomResultsWriter(Path(args.dicom_results), bundle)
    summary = score_to_csv(predictor, paths, args.out, heatmap_dir=args.heatmaps,
                           progress=lambda done, total, item: bar.update(done),
                           heatmaps=writer is not None, on_row=writer)
    print(f"{summary.scored} scored, {summary.refused} not scored (input check), "
          f"{summary.failed - summary.refused} unreadable, "
          f"{summary.images_per_second:.1f} images/s -> {args.out}", file=sys.stderr)
    if writer:
        print(writer.summary(), file=sys.stderr)
    return EXIT_PARTIAL if summary.failed else EXIT_OK


def _train(args) -> int:
    from pneumo_desktop.training.config import TrainConfig
    from pneumo_desktop.training.console import run_training_cli

    config = TrainConfig(
        architecture=args.arch, image_size=args.image_size, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
        target_sensitivity=args.target_sensitivity, val_fraction=args.val_fraction,
        test_fraction=args.test_fraction, init_from=args.init_from, folds=args.folds,
        equalize=args.equalize, holdout=args.holdout, limit=args.limit,
        ensemble_with=args.ensemble_with, init_seed=args.init_seed, precision=args.precision,
        trainable=args.trainable, freeze_batch_norm=not args.train_batch_norm,
        cross_fit_folds=args.cross_fit_folds, inner_val_fraction=args.inner_val_fraction,
        fine_tune_augment_strength=args.fine_tune_augment,
        border_masking=args.border_masking, burned_in_marks=args.marks,
        shift_calibration=args.shift_calibration)
    return run_training_cli(args.data, args.out, config, name=args.name)


def _evaluate(args) -> int:
    import json

    from pneumo_desktop.atomic import atomic_open
    from pneumo_desktop.evaluation.report import evaluate_folder, save_plots

    bundle = _bundle(args.model)
    bar: ProgressBar | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        bar = bar or ProgressBar(total, "evaluating")
        bar.update(done)

    report = evaluate_folder(args.data, bundle, args.threshold, progress)
    with atomic_open(args.out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    if args.plots:
        save_plots(report, args.plots, bundle)
    print(f"n {report['n']}: AUC {report['auc']:.4f}, accuracy {report['accuracy']:.3f}, "
          f"sensitivity {report['sensitivity']:.3f}, specificity {report['specificity']:.3f} "
          f"at threshold {report['threshold']:.4f} -> {args.out}", file=sys.stderr)
    focus, masking = report.get("heatmap_focus"), report.get("border_masking")
    if focus and masking:
        print(f"heat map: {focus['overall']['inside_thorax_box']:.1%} of its mass inside the "
              f"thorax box ({focus['thorax_box_area']:.0%} of the image), "
              f"{focus['overall']['top_band']:.1%} in the top band ({focus['top_band_area']:.0%}"
              f"); borders masked: AUC {masking['auc']:.4f} -> {masking['auc_masked']:.4f}, "
              f"mean change {masking['mean_probability_change']:.3f}, "
              f"{masking['flipped_decisions']:.1%} decisions flip", file=sys.stderr)
    check = report["input_check"]
    print(f"input check: {check['refused']} of {check['studies']} refused "
          f"({check['refused_fraction']:.1%}) {check['by_reason'] or ''}", file=sys.stderr)
    return EXIT_PARTIAL if report["errors"] else EXIT_OK


def _calibrate(args) -> int:
    from pneumo_desktop.training.local_calibration import calibrate

    bundle = _bundle(args.model)
    if Path(args.out).resolve() == bundle.path.resolve():
        print("error: --out must be a new folder, not the model being calibrated",
              file=sys.stderr)
        return EXIT_USAGE
    calibrate(args.data, bundle.path, args.out, target=args.target_sensitivity,
              folds=args.folds, name=args.name)
    return EXIT_OK


def _shift_calibrate(args) -> int:
    from pneumo_desktop.training.console import PrintingCallbacks
    from pneumo_desktop.training.shift_calibration import shift_lines
    from pneumo_desktop.training.shift_refit import refit_for_shift

    bundle = _bundle(args.model)
    if Path(args.out).resolve() == bundle.path.resolve():
        print("error: --out must be a new folder, not the model being calibrated",
              file=sys.stderr)
        return EXIT_USAGE
    done = refit_for_shift(args.data, bundle.path, args.out, args.holdout, PrintingCallbacks(),
                           args.name)
    for line in shift_lines(done.card.calibration["shift"]):
        print(line, file=sys.stderr)
    print(f"saved {done.path}: threshold {bundle.card.threshold:.6f} -> "
          f"{done.card.threshold:.6f} (same decisions)", file=sys.stderr)
    return EXIT_OK


def _input_check(args) -> int:
    from pneumo_desktop.training.console import PrintingCallbacks
    from pneumo_desktop.training.train import refit_input_check

    bundle = refit_input_check(args.data, args.model, PrintingCallbacks(), args.holdout)
    print(f"saved the learned input check in {bundle.path}", file=sys.stderr)
    return EXIT_OK


def _reads(args) -> int:
    """The reviewers' reads as a labelled folder, or (`reads import CSV`) reads imported."""
    from pneumo_desktop.intake.audit_log import AuditLog
    from pneumo_desktop.intake.reads_export import export_reads

    if args.action == "import":
        return monitoring.reads_import(args)
    if not args.out:
        print("error: reads needs --out DIR (or: reads import CSV)", file=sys.stderr)
        return EXIT_USAGE

    with AuditLog(args.audit_log) as audit:
        result = export_reads(audit, args.out)
    print(f"wrote {result.summary()}")
    return EXIT_OK


def _audit(args) -> int:
    """`audit verify`: the hash chain intact (0) or the first bad event (1)."""
    from pneumo_desktop.intake.audit_chain import parse_expect
    from pneumo_desktop.intake.audit_log import AuditLog

    try:
        expect = parse_expect(args.expect) if args.expect else None
    except ValueError as exc:
        print(f"error: --expect: {exc}", file=sys.stderr)
        return EXIT_USAGE
    path = Path(args.audit_log) if args.audit_log else None
    if path is not None and not path.is_file():
        print(f"error: {path} does not exist", file=sys.stderr)
        return EXIT_USAGE
    with AuditLog(path) as audit:
        report = audit.verify(expect)
        print(f"{audit.path}: {report.summary()}")
    return EXIT_OK if report.intact else EXIT_FAILURE


def _purge(args) -> int:
    """Delete old received images; the audit log records it."""
    from pneumo_desktop.intake.audit_log import AuditLog
    from pneumo_desktop.intake.retention import purge

    with AuditLog(args.audit_log) as audit:
        result = purge(args.store, args.older_than, audit)
    print(f"{args.store}: {result.summary()}")
    return EXIT_OK


def _receive(args) -> int:
    """Store and score arriving studies until SIGINT/SIGTERM; then finish the study in flight."""
    import signal
    import threading

    from pneumo_desktop.intake.pipeline import predictor_scorer
    from pneumo_desktop.intake.receiving import ReceivingConfig, ReceivingService, outcome_line
    from pneumo_desktop.model.inference import Predictor

    if not 0 <= args.port <= 65535:
        print("error: --port must be between 0 and 65535", file=sys.stderr)
        return EXIT_USAGE
    from pneumo_desktop.cli.results import result_line
    from pneumo_desktop.errors import PneumoError
    from pneumo_desktop.intake.results.dicom_client import Destination

    try:
        pacs = Destination.parse(args.send_results_to) if args.send_results_to else None
        if pacs and args.send_results_tls_ca:
            pacs = pacs.with_tls(args.send_results_tls_ca, args.send_results_tls_cert or "",
                                 args.send_results_tls_key or "")
            pacs.tls_args()  # the certificate files are checked now, not at the first send
    except PneumoError as exc:
        print(f"error: --send-results-to: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_ca and not args.tls_cert):
        print("error: TLS needs --tls-cert and --tls-key (and --tls-ca only with them)",
              file=sys.stderr)
        return EXIT_USAGE
    config = ReceivingConfig(Path(args.out), args.ae, args.port, args.host, args.allow,
                             [Path(w) for w in args.watch],
                             audit_path=Path(args.audit_log) if args.audit_log else None,
                             send_results_to=pacs,
                             allowed_addresses=args.allow_address,
                             tls_cert=args.tls_cert and Path(args.tls_cert),
                             tls_key=args.tls_key and Path(args.tls_key),
                             tls_ca=args.tls_ca and Path(args.tls_ca),
                             retention_days=args.delete_after)
    predictor = Predictor(_bundle(args.model), engine=args.engine)
    _say_engine(predictor)
    service = ReceivingService(config, predictor_scorer(predictor, heatmaps=pacs is not None),
                               on_outcome=lambda a, o: print(outcome_line(a, o), flush=True),
                               on_result=lambda item: print(result_line(item), file=sys.stderr,
                                                            flush=True))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.retry_failed and service.outbound:
        print(f"{service.outbound.retry()} failed result objects will be sent again",
              file=sys.stderr)
    try:
        recovered = service.start()
    except OSError as exc:
        service.stop()
        print(f"error: cannot start the receiver: {exc}", file=sys.stderr)
        return EXIT_USAGE
    tls = (", TLS" + (" (CA-signed senders only)" if args.tls_ca else "")) if args.tls_cert else ""
    print(f"receiving as {args.ae} on port {service.port}, storing in {service.out_dir}"
          f"; listening on {args.host or 'all addresses'}{tls}"
          f"{'; from ' + ' '.join(args.allow_address) + ' only' if args.allow_address else ''}"
          f"{'; watching ' + ', '.join(args.watch) if args.watch else ''}"
          f"{f'; results to {pacs}' if pacs else ''}"
          f"{' over TLS' if pacs and pacs.tls_ca else ''}; audit log "
          f"{service.audit.path}; {len(recovered)} left from before; Ctrl-C stops",
          file=sys.stderr, flush=True)
    if not args.host and not (args.allow_address or args.tls_ca):
        print("warning: any computer on the network can send studies here: name the senders "
              "with --allow-address, ask for CA-signed senders with --tls-ca, or listen on "
              "this computer only with --host 127.0.0.1 (docs/security.md)",
              file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    waiting = service.outbound.counts()["waiting"] if service.outbound else 0
    left = service.stop()
    print(f"stopped{f'; {left} stored studies will be scored at the next start' if left else ''}"
          f"{f'; {waiting} result objects wait to be sent' if waiting else ''}",
          file=sys.stderr)
    return EXIT_OK


def _self_test(args) -> int:
    from pneumo_desktop.cli.self_test import run_self_test

    return EXIT_OK if run_self_test(print, engine=args.engine) else EXIT_FAILURE


def _gui(paths: list[str] | None = None) -> int:
    from pneumo_desktop.gui.app import run_app

    return run_app(paths=paths)
