"""How fast `pneumo-desktop monitor` is on an audit log of 200 000 events (issue 20).

    python benchmarks/monitor_speed.py [--events 200000] [--log /tmp/big-audit.sqlite]

The log holds 80 000 received studies, their 80 000 outcomes (scored, with logit and
typicality) and 40 000 reads; it is written once (in one transaction) and reused.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pneumo_desktop.intake.audit_log import AuditLog  # noqa: E402
from pneumo_desktop.model.bundle import default_bundle_path, read_bundle  # noqa: E402
from pneumo_desktop.monitoring.report import monitor  # noqa: E402


def fill(log: AuditLog, studies: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with log.transaction():
        for i in range(studies):
            ref = log.log_received(source="folder", path=f"/in/{i}.png", sha256=str(i))
            z = float(rng.normal(4, 5))
            p = 1 / (1 + math.exp(-z))
            log.log_outcome(ref, event="scored", path=f"/in/{i}.png",
                            model="pneumo-fine-224-x2", probability=p,
                            decision="PNEUMONIA" if p >= 0.955 else "NORMAL", threshold=0.955,
                            logit=z, typicality=float(rng.normal(0.55, 0.1)))
            if i % 2:
                log.log_read(ref, "pneumonia" if rng.random() < p else "normal")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--log", default="/tmp/big-audit.sqlite")
    args = parser.parse_args()
    path = Path(args.log)
    if not path.exists():
        started = time.perf_counter()
        with AuditLog(path) as log:
            fill(log, args.events * 2 // 5)
        print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
    card = read_bundle(default_bundle_path(), verify=False).card
    with AuditLog(path) as log:
        events = len(log.events())
        times = []
        for _ in range(3):
            started = time.perf_counter()
            report = monitor(log, card, log_alerts=False)
            times.append(time.perf_counter() - started)
    print(f"{events} events, {report.studies} studies: monitor in "
          + ", ".join(f"{t:.2f}" for t in times) + " s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
