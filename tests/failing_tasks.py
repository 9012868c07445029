"""Compute-process tasks for tests: the real ones, with training failing as a full disk does."""

from pneumo_desktop.compute.tasks import TASKS as REAL_TASKS


def _train_on_full_disk(ctx, *args, **kwargs):
    raise OSError("No space left on device")


TASKS = {**REAL_TASKS, "train": _train_on_full_disk}
