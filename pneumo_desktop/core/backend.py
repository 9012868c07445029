"""Importing TensorFlow/Keras once, quietly, with GPU memory growth; naming the device used."""

from __future__ import annotations

import contextlib
import functools
import gc
import os


@functools.cache
def keras_module():
    """Import Keras (and TensorFlow when it is the backend) with GPU memory growth on."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if os.environ["KERAS_BACKEND"] == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            with contextlib.suppress(RuntimeError):  # already initialised by the caller
                tf.config.experimental.set_memory_growth(gpu, True)
    import keras

    from pneumo_desktop.core import layers  # noqa: F401  (registers custom layers)

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
