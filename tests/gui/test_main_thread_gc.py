"""Garbage collection pinned to the GUI thread (`gui.main_thread_gc`)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading

import pytest

from pneumo_desktop.gui.main_thread_gc import MainThreadGarbageCollector, collect_due


def make_cyclic_garbage(count: int) -> None:
    """`count` unreachable self-referencing lists: only the cyclic collector frees them, and
    they raise its allocation count past its threshold."""
    for _ in range(count):
        item: list = []
        item.append(item)


class _Cycle:
    """A reference cycle holding a QObject; records the thread that frees it."""

    freed_in: list[str] = []

    def __init__(self) -> None:
        from PySide6.QtCore import QObject

        self.me = self
        self.qobject = QObject()

    def __del__(self) -> None:
        _Cycle.freed_in.append(threading.current_thread().name)


def test_collector_turns_automatic_collection_off_and_collects_on_its_timer(qtbot):
    gc.enable()
    collector = MainThreadGarbageCollector(interval_ms=20)
    try:
        assert not gc.isenabled()
        _Cycle.freed_in.clear()
        _Cycle()
        # a worker thread allocating far past the thresholds triggers no collection there
        worker = threading.Thread(target=make_cyclic_garbage,
                                  args=(5 * gc.get_threshold()[0],), name="worker")
        worker.start()
        worker.join()
        assert _Cycle.freed_in == []
        qtbot.waitUntil(lambda: _Cycle.freed_in != [], timeout=3000)
        assert _Cycle.freed_in == [threading.main_thread().name]
    finally:
        collector.stop()
        collector.deleteLater()
    assert gc.isenabled()
    gc.disable()  # as the test session keeps it (conftest)


def test_collect_due_follows_pythons_thresholds():
    gc.collect()
    assert collect_due() is None  # nothing allocated since
    make_cyclic_garbage(2 * gc.get_threshold()[0])
    assert collect_due() in (0, 1, 2)


def test_collect_due_refuses_other_threads():
    errors: list[BaseException] = []

    def run() -> None:
        try:
            collect_due()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors and "GUI thread" in str(errors[0])


@pytest.mark.slow
def test_the_app_collects_in_the_gui_thread_only(tmp_path):
    """In a fresh process made like the app's: automatic collection is off, and a worker's
    allocations free no widget from its thread (the CI segfault's path)."""
    script = textwrap.dedent("""
        import gc, threading
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QWidget
        from pneumo_desktop.gui.app import make_application

        app = make_application(["test"])
        assert not gc.isenabled()
        freed = []

        class Held(QWidget):
            def __init__(self):
                super().__init__()
                self.me = self
                self.timer = QTimer(self)
                self.timer.start(1000)

            def __del__(self):
                freed.append(threading.current_thread() is threading.main_thread())

        gc.collect()  # so that the worker's garbage, not ours, crosses the threshold
        for _ in range(20):
            Held()
        def garbage():
            for _ in range(100000):
                item = []
                item.append(item)

        worker = threading.Thread(target=garbage)
        worker.start()
        worker.join()
        assert freed == [], freed
        QTimer.singleShot(1500, app.quit)
        app.exec()
        assert freed and all(freed), freed
        print("ok", len(freed))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, env={**__import__("os").environ,
                                              "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok 20")
    assert "another thread" not in result.stderr  # Qt: "Timers cannot be stopped from ..."
