"""The compute process: calls, events, errors, cancel, a crash and the restart after it."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pneumo_desktop.compute.process import ComputeCrashed, ComputeProcess, RemoteError
from pneumo_desktop.errors import PneumoError


@pytest.fixture(scope="module")
def process():
    p = ComputeProcess("tests.echo_tasks")
    yield p
    p.close()


def test_results_and_arrays_travel_both_ways(process):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    back = process.call("echo", {"a": array, "b": "x"}).result()
    assert back["b"] == "x" and np.array_equal(back["a"], array)
    assert process.call("pid").result() != os.getpid()


def test_events_arrive_in_order_then_the_result(process):
    call = process.call("count", 5)
    assert [payload for kind, payload in call.events()] == [0, 1, 2, 3, 4]
    assert call.result() == 5 and call.finished


def test_concurrent_calls_are_answered_separately(process):
    slow = process.call("count", 50, 0.01)
    fast = process.call("echo", 42)
    assert fast.result() == 42
    assert not slow.finished
    assert slow.result() == 50


def test_errors_come_back_as_themselves_or_as_text(process):
    with pytest.raises(PneumoError, match="no such study"):
        process.call("fail", "no such study").result()
    with pytest.raises(RemoteError, match="Local: something odd"):
        process.call("fail_oddly").result()
    with pytest.raises(RemoteError, match="cannot be sent back"):
        process.call("unpicklable").result()
    with pytest.raises(RemoteError, match="unknown task"):
        process.call("no_such_task").result()
    assert process.call("echo", 1).result() == 1  # the process is still fine


def test_cancel_and_stop_reach_the_task(process):
    call = process.call("count", 10_000, 0.001)
    for seen, _event in enumerate(call.events(), start=1):
        if seen == 3:
            call.cancel()
    assert 3 <= call.result() < 10_000
    stop = process.call("wait_for_stop")
    stop.signal("stop")
    assert stop.result() == "stopped"


def test_a_crash_fails_the_calls_in_flight_and_the_next_call_restarts():
    process = ComputeProcess("tests.echo_tasks")
    try:
        first = process.call("pid").result()
        waiting = process.call("wait_for_stop")
        with pytest.raises(ComputeCrashed, match=r"stopped unexpectedly \(exit code 7\)"):
            process.call("die").result()
        with pytest.raises(ComputeCrashed):
            waiting.result()
        assert process.call("pid").result() != first
        assert process.starts == 2
    finally:
        process.close()
    assert not process.alive
