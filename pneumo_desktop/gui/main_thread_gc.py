"""Python's cyclic garbage collector pinned to the GUI thread.

CPython runs a collection in whichever thread crosses an allocation threshold. In the GUI
process that is often a worker's QThread (scanning a folder, decoding films); a collection
there can free a widget or timer caught in a reference cycle from the wrong thread, and Qt
crashes (a segmentation fault, seen in CI: "Garbage-collecting" inside a folder-check worker).
The cure used by pyqtgraph, calibre and others: turn automatic collection off and run the same
generational schedule from a timer in the GUI thread.
"""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


def collect_due() -> int | None:
    """Collect the generations that Python's own thresholds say are due, as the automatic
    collector would; the generation collected, or None. Call it from the GUI thread only."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("garbage is collected in the GUI thread only")
    counts, thresholds = gc.get_count(), gc.get_threshold()
    if thresholds[0] == 0 or counts[0] <= thresholds[0]:
        return None
    generation = 0
    if counts[1] > thresholds[1]:
        generation = 2 if counts[2] > thresholds[2] else 1
    gc.collect(generation)
    return generation


class MainThreadGarbageCollector(QObject):
    """Turns Python's automatic collection off and runs `collect_due` every `interval_ms` in
    the thread that made it (the GUI thread). `stop()` gives collection back to Python."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(collect_due)
        self._timer.start(interval_ms)

    def stop(self) -> None:
        self._timer.stop()
        if self._was_enabled:
            gc.enable()


_collector: MainThreadGarbageCollector | None = None


def pin_garbage_collection(app: QObject) -> MainThreadGarbageCollector:
    """The application's collector (made once, a child of `app`)."""
    global _collector
    if _collector is None:
        _collector = MainThreadGarbageCollector(app)
    return _collector
