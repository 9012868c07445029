"""PyInstaller entry point: the frozen `pneumo-desktop` executable runs the normal CLI.

No argument starts the GUI; `pneumo-desktop self-test`, `score`, ... work as when installed
with pip.

Packaging check (used by tests/test_packaging.py): with PNEUMO_BUNDLE_CHECK=1 in the
environment, the executable instead imports every pneumo_desktop module and reports which
DICOM codecs pydicom can use, then exits (0: all fine). It catches modules the PyInstaller
analysis missed, which otherwise only fail when a user reaches that screen.
"""

import multiprocessing
import os
import sys

#: Compressed transfer syntaxes the app must decode -> the pydicom plugin expected for each.
REQUIRED_DECODERS = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg",  # JPEG baseline
    "1.2.840.10008.1.2.4.70": "pylibjpeg",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80": "pylibjpeg",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "pylibjpeg",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg",  # JPEG 2000
}


def use_persistent_matplotlib_cache() -> None:
    """PyInstaller's matplotlib run-time hook points MPLCONFIGDIR at a new temporary folder on
    every start, so matplotlib (which Keras imports) rebuilds its font cache each time: about
    1 s with a hundred fonts, several seconds on desktops with many. Keep it in the user's
    cache folder instead; if that is not writable, the temporary folder stays."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not base:
        return
    folder = os.path.join(base, "pneumo-desktop", "matplotlib")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return
    if os.access(folder, os.W_OK):
        os.environ["MPLCONFIGDIR"] = folder


def bundle_check() -> int:
    import importlib
    import pkgutil

    import pneumo_desktop

    failures = []
    names = sorted(info.name for info in
                   pkgutil.walk_packages(pneumo_desktop.__path__, "pneumo_desktop.")
                   if not info.name.endswith(".__main__"))  # that one runs the app
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # report every failure, not just the first
            failures.append(f"import {name}: {type(exc).__name__}: {exc}")
    print(f"imported {len(names) - len(failures)}/{len(names)} pneumo_desktop modules")

    from pydicom.pixels import get_decoder

    for uid, plugin in REQUIRED_DECODERS.items():
        decoder = get_decoder(uid)
        available = sorted(decoder.available_plugins)
        print(f"decoder {uid} ({decoder.UID.name}): {', '.join(available) or 'none'}")
        if plugin not in available:
            failures.append(f"decoder {uid}: plugin {plugin!r} unavailable")

    import matplotlib

    print(f"matplotlib {matplotlib.__version__}, backend {matplotlib.get_backend()}")

    # Scoring runs on LiteRT: its native libraries must be in the bundle.
    try:
        import numpy as np

        from pneumo_desktop.model.bundle import default_bundle_path, read_bundle
        from pneumo_desktop.model.litert_engine import LiteRTForward

        bundle = read_bundle(default_bundle_path())
        forward = LiteRTForward(bundle.tflite_file)
        size = bundle.card.input_size
        logits = forward(np.zeros((1, size, size, 1), np.float32))[0]
        print(f"litert: {bundle.tflite_file.name} runs (logit {float(logits[0]):.3f})")
    except Exception as exc:
        failures.append(f"litert: {type(exc).__name__}: {exc}")

    # The GUI runs TensorFlow in a spawned compute process: the frozen executable must start
    # itself as that child (multiprocessing.freeze_support) and answer a call.
    from pneumo_desktop.compute.process import ComputeProcess

    process = ComputeProcess()
    try:
        print(f"compute process: {process.call('device').result()}")
    except Exception as exc:
        failures.append(f"compute process: {type(exc).__name__}: {exc}")
    finally:
        process.close()
    for failure in failures:
        print(f"FAIL {failure}")
    print("bundle check ok" if not failures else f"bundle check FAILED ({len(failures)})")
    return 0 if not failures else 1


if __name__ == "__main__":
    # Required: the GUI's compute process (TensorFlow) is this executable, spawned again.
    multiprocessing.freeze_support()
    # Quiet TensorFlow's C++ start-up chatter unless the user asks for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if getattr(sys, "frozen", False):
        use_persistent_matplotlib_cache()
    if os.environ.get("PNEUMO_BUNDLE_CHECK") == "1":
        sys.exit(bundle_check())
    from pneumo_desktop.cli import main

    sys.exit(main())
