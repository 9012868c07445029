"""TensorFlow in a process of its own, driven by calls from the app.

CPython has one interpreter lock per process, and TensorFlow's import holds it for 0.35-0.63 s at
a time (its C extensions initialise under it): in a worker *thread* that froze the window. The
GUI therefore never imports TensorFlow; it sends calls to this child process, which owns the
model stack, and reads back events and results over a pipe (pickled dataclasses and NumPy
arrays). The child is started with the "spawn" method (a fresh interpreter, which also works in
the PyInstaller bundle through `multiprocessing.freeze_support()`), imports TensorFlow at once
in the background, and runs each call in its own thread. If it dies (out of memory, a crashed
driver), the calls in flight fail with a clear message and the next call starts a new one.

No Qt here: `gui.workers` wraps these calls in QThread workers.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import traceback
from collections.abc import Iterator
from typing import Any

from pneumo_desktop.errors import PneumoError

TASKS_MODULE = "pneumo_desktop.compute.tasks"
CHILD_NICENESS = 5  # scheduling priority below the GUI's (POSIX; Windows keeps the default)


class ComputeCrashed(PneumoError):
    """The compute process ended while a call was running."""


class RemoteError(PneumoError):
    """An error in the compute process that cannot travel back as itself."""


class CallContext:
    """What a task sees in the child: `emit` events, `signalled` flags ("stop", "cancel"), and
    `state` shared by all calls of this process (loaded models, training results)."""

    def __init__(self, call_id: int, send, state: dict[str, Any]):
        self.call_id = call_id
        self._send = send
        self.state = state
        self.flags: set[str] = set()

    def emit(self, kind: str, payload: Any = None) -> None:
        self._send(("event", self.call_id, kind, payload))

    def signalled(self, name: str) -> bool:
        return name in self.flags

    def cancelled(self) -> bool:
        return "cancel" in self.flags


def _exception_message(exc: BaseException) -> tuple[bytes | None, str]:
    try:
        data = pickle.dumps(exc)
        pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
    except Exception:
        data = None
    return data, f"{type(exc).__name__}: {exc}"


def _run_task(tasks: dict, ctx: CallContext, name: str, args: tuple, kwargs: dict,
              calls: dict[int, CallContext]) -> None:
    try:
        value = tasks[name](ctx, *args, **kwargs)
    except BaseException as exc:  # everything goes back to the caller
        data, text = _exception_message(exc)
        ctx._send(("error", ctx.call_id, data, text, traceback.format_exc()))
    else:
        try:
            ctx._send(("done", ctx.call_id, value))
        except Exception as exc:  # an unpicklable result: say so instead of hanging the caller
            ctx._send(("error", ctx.call_id, None,
                       f"{name} returned a result that cannot be sent back ({exc})", ""))
    finally:
        calls.pop(ctx.call_id, None)


def _warm_up(tasks_module) -> None:
    warm = getattr(tasks_module, "warm_up", None)
    if warm is not None:
        with contextlib.suppress(Exception):  # the first real call reports it with its own words
            warm()


def child_main(conn, tasks_module: str = TASKS_MODULE) -> None:
    """The child's loop: one thread per call; ends when the app closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the app's to handle
    if hasattr(os, "nice"):  # on a busy CPU the window's thread goes first
        with contextlib.suppress(OSError):
            os.nice(CHILD_NICENESS)
    module = importlib.import_module(tasks_module)
    tasks: dict = module.TASKS
    threading.Thread(target=_warm_up, args=(module,), name="warm-up", daemon=True).start()
    lock = threading.Lock()

    def send(message) -> None:
        with lock:
            conn.send(message)

    state: dict[str, Any] = {}
    calls: dict[int, CallContext] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            break
        kind = message[0]
        if kind == "call":
            _, call_id, name, args, kwargs = message
            ctx = CallContext(call_id, send, state)
            if name not in tasks:
                send(("error", call_id, None, f"unknown task {name!r}", ""))
                continue
            calls[call_id] = ctx
            threading.Thread(target=_run_task, args=(tasks, ctx, name, args, kwargs, calls),
                             name=f"call-{call_id}-{name}", daemon=True).start()
        elif kind == "signal":
            ctx = calls.get(message[1])
            if ctx is not None:
                ctx.flags.add(message[2])
        elif kind == "close":
            break
    conn.close()
    os._exit(0)  # no interpreter teardown: TensorFlow's can take seconds, and nothing is pending


class RemoteCall:
    """One call in the compute process: iterate `events()`, or wait for `result()`."""

    def __init__(self, process: ComputeProcess, call_id: int, name: str):
        self._process = process
        self.call_id = call_id
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._finished = False
        self._value: Any = None

    def _deliver(self, message: tuple) -> None:
        self._queue.put(message)

    @property
    def finished(self) -> bool:
        return self._finished

    def events(self, idle: float | None = None) -> Iterator[tuple[str, Any]]:
        """(kind, payload) events as the task emits them; the task's error is raised here,
        and its return value is kept for `result()`. With `idle` seconds, ("idle", None) comes
        whenever nothing arrived for that long (to poll a cancel flag)."""
        while not self._finished:
            try:
                message = self._queue.get(timeout=idle)
            except queue.Empty:
                yield "idle", None
                continue
            kind = message[0]
            if kind == "event":
                yield message[2], message[3]
            elif kind == "done":
                self._finished, self._value = True, message[2]
            else:
                self._finished = True
                raise _rebuild_error(message)

    def result(self) -> Any:
        for _ in self.events():
            pass
        return self._value

    def signal(self, name: str) -> None:
        """Set a flag the task polls ("cancel", "stop"); ignored once the task has ended."""
        self._process.send(("signal", self.call_id, name))

    def cancel(self) -> None:
        self.signal("cancel")


def _rebuild_error(message: tuple) -> BaseException:
    if message[0] == "crashed":
        return ComputeCrashed(message[2])
    _, _, data, text, _trace = message
    if data is not None:
        try:
            exc = pickle.loads(data)
        except Exception:
            exc = None
        if isinstance(exc, BaseException):
            return exc
    return RemoteError(text)


class ComputeProcess:
    """The parent's side: starts the child on the first call (and again after it died), sends
    calls, and routes what comes back to each call from one reader thread."""

    def __init__(self, tasks_module: str = TASKS_MODULE):
        self.tasks_module = tasks_module
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._calls: dict[int, tuple[RemoteCall, Any]] = {}  # id -> (call, its process)
        self._process = None
        self._conn = None
        self.starts = 0  # how many child processes were started (1 unless one died)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the child now (it imports TensorFlow at once); no-op when it runs."""
        with self._lock:
            if self.alive:
                return
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe(duplex=True)
            process = context.Process(target=child_main, args=(child, self.tasks_module),
                                      name="pneumo-compute", daemon=True)
            process.start()
            child.close()
            self._process, self._conn = process, parent
            self.starts += 1
            threading.Thread(target=self._read, args=(process, parent), name="compute-reader",
                             daemon=True).start()

    def _read(self, process, conn) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # a message that cannot be unpickled
                message = None
                text = f"a result could not be read back ({type(exc).__name__}: {exc})"
                for call in self._take_all(process):
                    call._deliver(("crashed", call.call_id, text))
                break
            with self._lock:
                entry = self._calls.get(message[1])
                if message[0] in ("done", "error"):
                    self._calls.pop(message[1], None)
            if entry is not None:
                entry[0]._deliver(message)
        process.join(timeout=5)
        code = process.exitcode
        text = ("The compute process (TensorFlow) stopped unexpectedly"
                + (f" (exit code {code})" if code not in (None, 0) else "")
                + "; it starts again on the next action. If this follows a large batch or "
                  "model, the machine may be short of memory.")
        for call in self._take_all(process):
            call._deliver(("crashed", call.call_id, text))

    def _take_all(self, process) -> list[RemoteCall]:
        """Forget the calls sent to `process` (it ended) and return them."""
        with self._lock:
            mine = [k for k, (_, owner) in self._calls.items() if owner is process]
            return [self._calls.pop(k)[0] for k in mine]

    def send(self, message: tuple) -> None:
        with self._send_lock:
            conn = self._conn
            if conn is None:
                raise ComputeCrashed("The compute process is not running")
            conn.send(message)

    def call(self, name: str, *args: Any, **kwargs: Any) -> RemoteCall:
        """Run task `name` in the child (started if needed); returns at once."""
        with self._lock:
            self.start()
            call = RemoteCall(self, next(self._ids), name)
            self._calls[call.call_id] = (call, self._process)
        try:
            self.send(("call", call.call_id, name, args, kwargs))
        except (OSError, ValueError, pickle.PicklingError, TypeError) as exc:
            with self._lock:
                self._calls.pop(call.call_id, None)
            raise ComputeCrashed(f"The call {name} could not be sent to the compute process "
                                 f"({type(exc).__name__}: {exc})") from None
        return call

    def close(self, timeout: float = 5.0) -> None:
        """Ask the child to end; kill it if it does not within `timeout` seconds."""
        with self._lock:
            process, conn = self._process, self._conn
            self._process = self._conn = None
        if process is None:
            return
        try:
            with self._send_lock:
                conn.send(("close",))
        except (OSError, ValueError):
            pass
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join(1)
        conn.close()  # the reader thread sees the end and fails the calls still waiting


_shared: ComputeProcess | None = None
_shared_lock = threading.Lock()


def shared_process() -> ComputeProcess:
    """The app's one compute process (created on first use; closed when the app exits)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ComputeProcess()
        return _shared
