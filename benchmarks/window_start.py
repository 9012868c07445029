"""How long the main window takes to appear with a large audit log, and when the log is ready.

The audit log's integrity check grows with the log (0.30-0.32 s at 200 000 events when it ran
on the GUI thread before the window appeared). Each figure comes from a fresh process that has
imported neither TensorFlow nor the window before the clock starts.

    python benchmarks/window_start.py --events 200000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from PySide6.QtCore import QSettings
from pneumo_desktop.gui.app import make_application
app = make_application([sys.argv[0]])
t0 = time.perf_counter()
from pneumo_desktop.gui.window.main_window import MainWindow
settings = QSettings(sys.argv[1] + "/settings.ini", QSettings.Format.IniFormat)
window = MainWindow(model_path=Path(sys.argv[2]) / "models" / "default", settings=settings,
                    model_dirs=[])
window.show()
shown = time.perf_counter()
while window.audit is None:  # (opened on the GUI thread before 0.2: already set)
    app.processEvents()
    time.sleep(0.001)
ready = time.perf_counter()
events = window.audit._one("SELECT COUNT(*) AS n FROM events")["n"]
window.close()
app.processEvents()
print(json.dumps({"window_shown_s": shown - t0, "audit_ready_s": ready - t0, "events": events}))
"""


def make_log(folder: Path, events: int) -> None:
    """An audit log of `events` rows (a received / scored pair per study) in `folder`."""
    sys.path.insert(0, str(ROOT))
    from pneumo_desktop.intake.audit_log import AuditLog

    with AuditLog(folder / "audit.sqlite"):
        pass
    db = sqlite3.connect(folder / "audit.sqlite")
    rows = []
    for i in range(events):
        if i % 2 == 0:
            rows.append(("2026-11-26T06:00:00Z", "received", None, "storescu",
                         f"/data/received/{i}.dcm", f"{i:064x}", "", 0.0))
        else:
            rows.append(("2026-11-26T06:00:01Z", "scored", i, "", f"/data/received/{i - 1}.dcm",
                         "", "pneumo-compact-224-x2", 0.42))
    with db:
        db.executemany("INSERT INTO events (time, event, ref, source, path, sha256, model, "
                       "probability) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="window-start-") as tmp:
        make_log(Path(tmp), args.events)
        size = (Path(tmp) / "audit.sqlite").stat().st_size / 2 ** 20
        print(f"audit log: {args.events} events, {size:.0f} MiB")
        env = dict(os.environ, PNEUMO_DATA_DIR=tmp, QT_QPA_PLATFORM=os.environ.get(
            "QT_QPA_PLATFORM", "offscreen"))
        for run in range(args.runs):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD, tmp, str(ROOT)], env=env,
                                 capture_output=True, text=True, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            print(f"run {run + 1}: window shown {result['window_shown_s'] * 1000:.0f} ms after "
                  f"the window module's import began, audit log ready "
                  f"{result['audit_ready_s'] * 1000:.0f} ms ({result['events']} events; "
                  f"process {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
