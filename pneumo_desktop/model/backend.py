"""Importing TensorFlow/Keras once, quietly, with GPU memory growth; naming the device used."""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import re
import sys
import tempfile

# What TensorFlow's native code prints at import, past TF_CPP_MIN_LOG_LEVEL, that says nothing
# to a user: oneDNN and CPU-instruction notices, and on a machine without an NVIDIA driver the
# CUDA build's "no driver" lines (the status bar and `self-test` say CPU or GPU instead).
NO_DRIVER = r"Could not find cuda drivers on your machine"
IMPORT_NOISE = (r"oneDNN custom operations are on", r"rebuild TensorFlow with the appropriate",
                r"This TensorFlow binary is optimized", r"before absl::InitializeLog\(\) is called",
                NO_DRIVER)
NO_DRIVER_NOISE = (r"failed call to cuInit",)  # only when the driver itself is missing


@contextlib.contextmanager
def filtered_native_stderr(noise=IMPORT_NOISE):
    """Hold what native code writes to file descriptor 2 meanwhile, then pass on every line
    but the `noise` patterns (and the cuInit failure when there is no NVIDIA driver)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines()
            patterns = list(noise)
            if any(re.search(NO_DRIVER, line) for line in lines):
                patterns += NO_DRIVER_NOISE
            kept = [line for line in lines if not any(re.search(p, line) for p in patterns)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


@functools.cache
def keras_module():
    """Import Keras (and TensorFlow when it is the backend) with GPU memory growth on."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if os.environ["KERAS_BACKEND"] == "tensorflow":
        with filtered_native_stderr():
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            with contextlib.suppress(RuntimeError):  # already initialised by the caller
                tf.config.experimental.set_memory_growth(gpu, True)
    import keras

    from pneumo_desktop.model import layers  # noqa: F401  (registers custom layers)

    # Move TensorFlow's ~300 000 import-time objects out of the garbage collector's reach: a full
    # collection would otherwise walk them for ~0.5 s holding the GIL (a frozen GUI meanwhile).
    gc.freeze()
    return keras


@functools.cache
def device_description() -> str:
    """'GPU (name)' when Keras computes on a GPU, else 'CPU'."""
    keras = keras_module()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"GPU ({details.get('device_name', gpus[0].name)})"
    elif keras.backend.backend() == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform == "gpu"]
        if devices:
            return f"GPU ({devices[0].device_kind})"
    return "CPU"
