"""TensorFlow's import-time notices from native code: noise held back, everything else kept."""

from __future__ import annotations

import os

from pneumo_desktop.model.backend import filtered_native_stderr


def native(text: str) -> None:
    os.write(2, text.encode())  # as C++ code writes: past sys.stderr


def test_import_notices_are_dropped_and_other_lines_pass(capfd):
    with filtered_native_stderr():
        native("I0000 port.cc:153] oneDNN custom operations are on. You may see ...\n")
        native("WARNING: All log messages before absl::InitializeLog() is called are "
               "written to STDERR\n")
        native("E0000 something.cc:12] a real problem\n")
    err = capfd.readouterr().err
    assert err == "E0000 something.cc:12] a real problem\n"


def test_cuinit_failure_is_dropped_only_when_there_is_no_driver(capfd):
    cuinit = "E0000 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error (303)\n"
    with filtered_native_stderr():
        native("I0000 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU "
               "will not be used.\n")
        native(cuinit)
    assert capfd.readouterr().err == ""
    with filtered_native_stderr():  # a driver is there but fails: the user must see why
        native(cuinit)
    assert capfd.readouterr().err == cuinit


def test_the_descriptor_is_restored_even_when_the_block_fails(capfd):
    try:
        with filtered_native_stderr():
            native("kept line\n")
            raise RuntimeError("import failed")
    except RuntimeError:
        pass
    native("after\n")
    assert capfd.readouterr().err == "kept line\nafter\n"
