"""The GUI thread's worst gap, measured in a fresh process (TensorFlow not imported yet) from the
moment the window is shown, with the shipped model on real radiographs.

    python benchmarks/gui_gaps.py drop FOLDER         a folder dropped right after the window
    python benchmarks/gui_gaps.py first-score IMAGE   launch to the first heat map on screen
    python benchmarks/gui_gaps.py wizard FOLDER       fine-tuning the shipped model, a few steps
    python benchmarks/gui_gaps.py receive N           N studies pushed in one association to the
                                                      window's DICOM receiver (worklist)

Prints one JSON line (seconds). `--model DIR` picks another bundle (default: models/default).
Launch time is taken from PNEUMO_LAUNCH_TIME (time.time() before the process was started) when
set, else from the first line of this script.
"""

import time

STARTED = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def wait_for(signal, seconds: float, action=None) -> list:
    """Run `action()`, then the event loop until `signal` fires (its arguments) or `seconds`
    pass (TimeoutError)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, got = QEventLoop(), []
    signal.connect(lambda *args: (got.append(list(args)), loop.quit()))
    if action is not None:
        action()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    if not got:
        raise TimeoutError(f"no {signal} within {seconds} s")
    return got[0]


def shown_window(args, settings):
    """The main window with the model to test, shown, and a GapProbe started as it appears;
    (window, probe, the time it was shown)."""
    from pneumo_desktop.gui.gap_probe import GapProbe
    from pneumo_desktop.gui.window.main_window import MainWindow

    window = MainWindow(model_path=args.model, settings=settings, model_dirs=[])
    window.resize(1366, 768)
    probe = GapProbe()
    window.show()
    probe.start()
    return window, probe, time.perf_counter()


def drop(args, app, settings) -> dict:
    window, probe, shown = shown_window(args, settings)
    finished = wait_for(window.batchFinished, args.timeout,
                        lambda: window.handle_drop([Path(args.input)]))
    probe.stop()
    return {"scenario": "drop", "rows": window.batch_model.rowCount(), "finished": finished,
            "seconds": time.perf_counter() - shown, "max_gap": probe.max_gap,
            "ticks": probe.ticks}


def first_score(args, app, settings) -> dict:
    window, probe, _ = shown_window(args, settings)
    wait_for(window.imageScored, args.timeout, lambda: window.handle_drop([Path(args.input)]))
    app.processEvents()  # paint the heat map
    probe.stop()
    launch = float(os.environ.get("PNEUMO_LAUNCH_TIME", STARTED))
    return {"scenario": "first-score", "seconds": time.time() - launch,
            "max_gap": probe.max_gap, "ticks": probe.ticks}


def wizard(args, app, settings) -> dict:
    from pneumo_desktop.gui.gap_probe import GapProbe
    from pneumo_desktop.gui.wizard.wizard import TrainingWizard

    out = Path(tempfile.mkdtemp(prefix="gaps-models-"))
    w = TrainingWizard(active_model=Path(args.model), models_dir=out)
    probe = GapProbe()
    w.show()
    probe.start()
    shown = time.perf_counter()
    if not wait_for(w.dataChecked, args.timeout, lambda: w.set_data_folder(args.input))[0]:
        raise SystemExit("the folder check failed")
    w.next()
    page = w.model_page
    page.fine_tune_radio.setChecked(True)
    page.epochs_spin.setValue(2)
    page.batch_spin.setValue(8)
    page.steps_spin.setValue(args.steps)
    ended = wait_for(w.trainingEnded, args.timeout, w.next)[0]
    probe.stop()
    config = w.config()
    w.shutdown(60000)
    return {"scenario": "wizard", "ended": ended, "seconds": time.perf_counter() - shown,
            "max_gap": probe.max_gap, "ticks": probe.ticks, "long_gaps": probe.long_gaps,
            "architecture": config.architecture, "image_size": config.image_size}


def wait_until(condition, seconds: float) -> None:
    """Run the event loop until `condition()` holds (checked every 50 ms) or TimeoutError."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: loop.quit() if condition() else None)
    timer.start(50)
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    timer.stop()
    if not condition():
        raise TimeoutError(f"not done within {seconds} s")


def receive(args, app, settings) -> dict:
    """A burst of studies from a modality (another process, one association) while the window
    is shown: they are stored, scored and listed in the worklist."""
    import socket
    import subprocess

    from bench_receiver import SENDER

    n = int(args.input)
    data = Path(tempfile.mkdtemp(prefix="gaps-data-"))
    os.environ["PNEUMO_DATA_DIR"] = str(data)  # audit log and received studies
    (data / "send").mkdir()
    kind = "native" if (ROOT.parent / "shared" / "data" / "chest_xray_native").is_dir() \
        else "synthetic"
    # written by a child process: this one starts as the app does, without pydicom or
    # pynetdicom imported (the window imports them off the GUI thread when receiving is on)
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                    "from bench_receiver import films, write_studies; "
                    "write_studies(Path(sys.argv[1]), films(sys.argv[2], 512, int(sys.argv[3])))",
                    str(data / "send"), kind, str(n)], check=True, cwd=Path(__file__).parent)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.setValue("receiving/port", s.getsockname()[1])
    settings.setValue("receiving/enabled", True)  # on at the last close: starts with the window
    dicom_stack_preloaded = "pydicom" in sys.modules or "pynetdicom" in sys.modules
    window, probe, shown = shown_window(args, settings)
    wait_until(lambda: window.intake is not None and window.intake.running, 30)
    dock = window.intake  # built once the audit log has opened (in a worker)
    sender = subprocess.Popen([sys.executable, "-c", SENDER, str(dock.receiver.port),
                               str(data / "send"), str(ROOT)], stdout=subprocess.PIPE, text=True)
    model = dock.model
    wait_until(lambda: model.rowCount() >= n and all(model.row(i).outcome
                                                     for i in range(model.rowCount())),
               args.timeout)
    probe.stop()
    seconds = time.perf_counter() - shown
    t0, t1, failed = sender.communicate(timeout=60)[0].split()
    states = [model.row(i).state for i in range(model.rowCount())]
    events = {e: len(window.audit.events(e)) for e in ("received", "scored", "refused")}
    window.close()  # as a user closes it: receiver stopped, log closed
    window.deleteLater()  # before the interpreter's final collection, which Qt objects outlive
    app.processEvents()
    return {"scenario": "receive", "studies": n, "rows": len(states), "failed_stores": int(failed),
            "sending_seconds": float(t1) - float(t0), "seconds_to_last_score": seconds,
            "max_gap": probe.max_gap, "ticks": probe.ticks, "long_gaps": probe.long_gaps,
            "states": {s: states.count(s) for s in set(states)}, "audit": events,
            "dicom_stack_preloaded": dicom_stack_preloaded}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["drop", "first-score", "wizard", "receive"])
    parser.add_argument("input", help="folder (drop, wizard), image (first-score) or number "
                                      "of studies (receive)")
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--steps", type=int, default=3, help="wizard: steps per epoch")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    from PySide6.QtCore import QSettings

    from pneumo_desktop.compute.process import shared_process
    from pneumo_desktop.gui.app import make_application

    app = make_application([sys.argv[0]])
    folder = tempfile.mkdtemp(prefix="gaps-settings-")
    settings = QSettings(os.path.join(folder, "settings.ini"), QSettings.Format.IniFormat)
    run = {"drop": drop, "first-score": first_score, "wizard": wizard,
           "receive": receive}[args.scenario]
    try:
        result = run(args, app, settings)
    finally:
        shared_process().close()
    result["tensorflow_in_gui_process"] = any(m == "tensorflow" or m.startswith("tensorflow.")
                                              for m in sys.modules)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
