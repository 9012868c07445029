"""Compute-process tasks for tests of the process itself (no TensorFlow: they start at once)."""

import os
import threading
import time

from pneumo_desktop.errors import PneumoError


def echo(ctx, value):
    return value


def count(ctx, n, delay=0.0):
    """Emit n "item" events; stop early on cancel; return how many were sent."""
    sent = 0
    for i in range(n):
        if ctx.cancelled():
            break
        ctx.emit("item", i)
        sent += 1
        time.sleep(delay)
    return sent


def fail(ctx, message):
    raise PneumoError(message)


def fail_oddly(ctx):
    class Local(Exception):  # cannot be pickled: travels back as its text
        pass

    raise Local("something odd")


def unpicklable(ctx):
    return threading.Lock()


def die(ctx):
    os._exit(7)


def wait_for_stop(ctx):
    while not ctx.signalled("stop"):
        time.sleep(0.01)
    return "stopped"


def pid(ctx):
    return os.getpid()


TASKS = {f.__name__: f for f in (echo, count, fail, fail_oddly, unpicklable, die,
                                 wait_for_stop, pid)}
