"""Measuring how long the GUI thread stops answering: a 10 ms timer and the longest gap between
its ticks (used by the responsiveness tests and `benchmarks/gui_gaps.py`)."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer


class GapProbe:
    """`with GapProbe() as probe:` … `probe.max_gap` (seconds) and `probe.ticks`."""

    def __init__(self, interval_ms: int = 10):
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.max_gap = 0.0
        self.ticks = 0
        self.started = 0.0
        self.long_gaps: list[tuple[float, float]] = []  # (seconds since start, gap) over 50 ms

    def _tick(self) -> None:
        now = time.perf_counter()
        if now - self.last > 0.05:
            self.long_gaps.append((round(self.last - self.started, 3), round(now - self.last, 3)))
        self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        self.ticks += 1

    def start(self) -> GapProbe:
        self.last = self.started = time.perf_counter()
        self.timer.start()
        return self

    def stop(self) -> None:
        self.timer.stop()
        self._tick()

    def __enter__(self) -> GapProbe:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
