"""The audit-log opener's worker (`gui.intake.audit_opener`): the log, its check, and the
worklist's DICOM stack imported off the GUI thread."""

from __future__ import annotations

import sys
import threading

import pytest

from pneumo_desktop.gui.intake.audit_opener import AuditLogOpener
from pneumo_desktop.gui.workers import ThreadPool

PROBE = "pneumo_preload_probe"


@pytest.fixture
def probe_module(tmp_path, monkeypatch):
    """A module that records, in `events`, the thread that imported it."""
    (tmp_path / f"{PROBE}.py").write_text(
        "import threading\nfrom conftest_events import events\n"
        "events.append(('imported', threading.current_thread() is threading.main_thread()))\n")
    (tmp_path / "conftest_events.py").write_text("events = []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, PROBE, raising=False)
    import conftest_events

    conftest_events.events.clear()
    yield conftest_events.events
    sys.modules.pop(PROBE, None)


@pytest.mark.parametrize("first", [True, False])
def test_preloads_in_the_worker_before_or_after_the_log(qtbot, tmp_path, probe_module, first):
    opener = AuditLogOpener(tmp_path / "audit.sqlite", preload=(PROBE,), preload_first=first)
    opened: list = []
    opener.opened.connect(lambda log: (probe_module.append(("opened", True)), opened.append(log)))
    opener.verified.connect(lambda intact, text: probe_module.append(("verified", intact)))
    pool = ThreadPool()
    with qtbot.waitSignal(opener.finished, timeout=10000):
        pool.start(opener, "opener")
    qtbot.waitUntil(lambda: len(probe_module) == 3)
    order = [kind for kind, _ in probe_module]
    assert order == (["imported", "opened", "verified"] if first
                     else ["opened", "verified", "imported"])
    assert ("imported", False) in probe_module  # not in the GUI (main) thread
    assert ("verified", True) in probe_module
    assert threading.main_thread().is_alive()
    opened[0].close()


def test_a_module_that_cannot_be_imported_never_keeps_the_log_closed(qtbot, tmp_path):
    opener = AuditLogOpener(tmp_path / "audit.sqlite", preload=("pneumo_no_such_module",),
                            preload_first=True)
    opened: list = []
    opener.opened.connect(opened.append)
    pool = ThreadPool()
    with qtbot.waitSignal(opener.finished, timeout=10000):
        pool.start(opener, "opener")
    qtbot.waitUntil(lambda: len(opened) == 1)
    opened[0].close()
