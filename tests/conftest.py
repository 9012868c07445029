"""Shared fixtures: tiny model bundles and synthetic images made by the tests themselves."""

from __future__ import annotations

import gc
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# the audit log, received studies and user models of the windows the tests open stay out of
# the user's own data folder
os.environ.setdefault("PNEUMO_DATA_DIR", tempfile.mkdtemp(prefix="pneumo-test-data-"))

# As in the app (`gui.main_thread_gc`): no automatic garbage collection, which would run in
# whichever thread crosses the threshold (a worker's QThread, a receiver's thread) and can free
# a finished test's widgets from there, a segfault; `_collect_in_main_thread` runs it instead.
gc.disable()

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent")
    return path


def make_bundle(folder: Path, arch: str = "custom_cnn", size: int = 64, threshold: float = 0.5,
                seed: int = 0, name: str | None = None):
    """A randomly initialised bundle (with a non-trivial logit weight so CAMs are not flat)."""
    import keras

    from pneumo_desktop.model.architectures import build_model
    from pneumo_desktop.model.bundle import ModelCard, write_bundle

    keras.utils.set_random_seed(seed)
    model = build_model(arch, size)
    card = ModelCard(name=name or folder.name, architecture=arch, input_size=size,
                     threshold=threshold)
    return write_bundle(folder, model, card)


def write_dicom(path: Path, pixels, **tags) -> Path:
    """A DICOM file written with pydicom (8-bit grey, or RGB for a 3-channel array)."""
    import io

    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns = pixels.shape[:2]
    colour = pixels.ndim == 3
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(pixels, np.uint8).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(autouse=True)
def _collect_in_main_thread():
    """After each test, the collections Python's thresholds say are due, in the main thread."""
    yield
    from pneumo_desktop.gui.main_thread_gc import collect_due

    collect_due()


@pytest.fixture
def window(qtbot, tiny_bundle, tmp_path):
    """The main window with the tiny model loaded and throw-away settings."""
    from PySide6.QtCore import QSettings

    from pneumo_desktop.gui.window.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(model_path=tiny_bundle, settings=settings, model_dirs=[tmp_path / "m"])
    qtbot.addWidget(win)
    win.resize(1200, 760)
    win.show()
    qtbot.waitUntil(lambda: win.is_model_ready, timeout=60000)
    return win


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """Path of a session-wide tiny custom_cnn bundle (64 px)."""
    folder = tmp_path_factory.mktemp("bundles") / "tiny"
    make_bundle(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_predictor(tiny_bundle):
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.model.inference import Predictor

    return Predictor(read_bundle(tiny_bundle), batch_size=4)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """A folder with good synthetic images (JPEG, PNG) and broken files."""
    import cv2

    from pneumo_desktop.imaging.synthetic import synthetic_chest

    folder = tmp_path / "studies"
    (folder / "sub").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(folder / f"study{i}.jpg"), synthetic_chest(300, seed=i, opacity=i % 2 == 1))
    cv2.imwrite(str(folder / "sub" / "study3.png"), synthetic_chest(256, seed=3))
    (folder / "empty.jpg").write_bytes(b"")
    good = (folder / "study0.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.jpg").write_bytes(good)
    return folder
