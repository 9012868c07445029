"""Progress of a long command on stderr."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """A one-line progress bar on stderr: count, images/s and time left."""

    def __init__(self, total: int, label: str = "scoring", stream=None):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.last = 0.0

    def update(self, done: int, extra: str = "") -> None:
        now = time.perf_counter()
        if done < self.total and now - self.last < 0.1:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * done / max(self.total, 1))
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{done}/{self.total}  {rate:5.1f} img/s  ETA {eta:4.0f}s {extra}")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()
