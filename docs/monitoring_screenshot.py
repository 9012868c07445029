"""Render the Monitoring page to docs/screenshot-monitoring.png (issue 20).

    python docs/monitoring_screenshot.py [--cache DIR] [--out docs/screenshot-monitoring.png]

The audit log behind it holds the shipped model's real outputs: the 506 films of its home test
split (scores, typicality, the decision at the card's threshold, and their true labels as
reads) received over a week, then 120 of the training hospital's films with CLAHE applied
(`imaging.site_shift`) as the most recent studies: the page shows the figures, the
drift alert and what to do. Scores come from `benchmarks/monitoring_drift.py`'s cache (run it
first, or this script scores the films itself through it).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def build_log(path: Path, cache: Path, card) -> None:
    from pneumo_desktop.intake import audit_log
    from pneumo_desktop.intake.audit_log import AuditLog

    sets = [np.load(cache / "home_test_split.npz"), np.load(cache / "shifted_CLAHE.npz")]
    start = datetime(2026, 11, 24, 8, tzinfo=UTC)
    clock = {"t": start}
    audit_log.now_utc = lambda: clock["t"].isoformat(timespec="milliseconds")
    with AuditLog(path) as log, log.transaction():
        i = 0
        for part, data in enumerate(sets):
            for label, z, typ in zip(data["labels"], data["logits"], data["typicality"],
                                     strict=True):
                clock["t"] = start + timedelta(minutes=16 * i)
                p = 1 / (1 + math.exp(-z))
                name = f"/studies/{i:04d}.dcm"
                ref = log.log_received(source="DICOM CR1", path=name, sha256=f"{i:064x}")
                refused = typ > 1.0
                log.log_outcome(ref, event="refused" if refused else "scored", path=name,
                                model=card.name, threshold=card.threshold,
                                probability=None if refused else p,
                                decision="" if refused else
                                ("PNEUMONIA" if p >= card.threshold else "NORMAL"),
                                logit=float(z), typicality=float(typ),
                                reason_code="atypical" if refused else "",
                                input_check="refused" if refused else "passed")
                if part == 0 and i % 3 == 0:  # a third of the home films read
                    log.log_read(ref, "pneumonia" if label else "normal", reader="ris")
                i += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "drift-scores"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot-monitoring.png"))
    args = parser.parse_args()
    cache = Path(args.cache)
    if not (cache / "shifted_CLAHE.npz").exists():
        import monitoring_drift

        sys.argv = ["monitoring_drift.py", "--cache", str(cache)]
        monitoring_drift.main()

    from PySide6.QtWidgets import QApplication, QMainWindow

    from pneumo_desktop.gui.monitoring.dock import MonitoringDock
    from pneumo_desktop.gui.workers import ThreadPool
    from pneumo_desktop.intake.audit_log import AuditLog
    from pneumo_desktop.model.bundle import default_bundle_path, read_bundle

    card = read_bundle(default_bundle_path(), verify=False).card
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.sqlite"
        build_log(path, cache, card)
        with AuditLog(path) as log:
            window = QMainWindow()
            pool = ThreadPool(window)
            dock = MonitoringDock(log, lambda: card, lambda: None, pool, Path(tmp), window)
            window.setCentralWidget(dock.page)
            window.setWindowTitle("Pneumo Desktop — Monitoring")
            window.resize(1280, 820)
            window.show()
            done = []
            dock.reportReady.connect(done.append)
            dock.refresh()
            while not done:
                app.processEvents()
            pool.wait_all()
            for _ in range(20):
                app.processEvents()
            window.grab().save(args.out)
            print(f"wrote {args.out}")
            for line in done[0].lines():
                print(line)
            window.close()
            window.deleteLater()
            app.processEvents()
    sys.stdout.flush()
    os._exit(0)  # skip Qt's teardown at interpreter exit (PySide6 6.x can crash there)


if __name__ == "__main__":
    raise SystemExit(main())
