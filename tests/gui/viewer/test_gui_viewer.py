"""GUI: opening JPEG and DICOM studies, the result panel, the heat-map layer and the viewer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QCheckBox, QLabel

from pneumo_desktop.gui.viewer.result_panel import BANNER_TEXT
from pneumo_desktop.imaging.synthetic import synthetic_chest

REPO = Path(__file__).resolve().parents[3]


def write_dicom(path: Path, pixels: np.ndarray, patient: str = "Doe^Jane") -> Path:
    """A DX DICOM (MONOCHROME2, 12 of 16 bits, explicit VR little endian)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", "PA"
    ds.StudyDate = "20240131"
    ds.PatientName, ds.PatientID = patient, "ID-4711"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def all_label_text(win) -> str:
    return "\n".join(label.text() for label in win.findChildren(QLabel))


def open_and_wait(qtbot, win, path: Path) -> tuple[str, float]:
    with qtbot.waitSignal(win.imageScored, timeout=30000) as blocker:
        win.open_image(path)
    return blocker.args[0], blocker.args[1]


def test_open_jpeg_shows_probability_and_toggles_overlay(qtbot, window, tmp_path):
    path = tmp_path / "chest.jpg"
    cv2.imwrite(str(path), synthetic_chest(400, width=360, seed=2, opacity=True))
    scored_path, probability = open_and_wait(qtbot, window, path)

    assert scored_path == str(path) and 0.0 <= probability <= 1.0
    panel = window.result_panel
    assert panel.probability_label.text() in (f"{probability * 100:.0f} %", "< 1 %", "> 99 %")
    assert panel.probability_caption.text() == ("Probability of pneumonia — calibrated at the "
                                                "training hospital only")  # no local section
    decision = "Pneumonia suspected" if probability >= 0.5 else "No pneumonia suspected"
    assert panel.decision_label.text() == decision
    assert panel.explanation_label.text()
    assert window.findChild(QLabel, "disclaimerBanner").text() == BANNER_TEXT
    assert window.findChild(QLabel, "disclaimerBanner").isVisible()
    assert "chest.jpg" in window.windowTitle()

    viewer = window.viewer
    assert viewer.has_heatmap and viewer.heatmap_visible
    toggle = window.findChild(QCheckBox, "heatmapToggle")
    qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)
    assert not toggle.isChecked() and not viewer.heatmap_visible
    assert not window.heatmap_action.isChecked()
    window.heatmap_action.trigger()  # the H shortcut's action
    assert viewer.heatmap_visible and toggle.isChecked()
    assert window.heatmap_action.shortcut().toString() == "H"

    window.result_panel.opacity_slider.setValue(30)
    assert viewer.heatmap_opacity == pytest.approx(0.3)
    assert window.settings.overlay_opacity == pytest.approx(0.3)


def test_heatmap_lies_on_the_image_at_every_zoom(qtbot, window, tmp_path):
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), synthetic_chest(300, width=520, seed=4))
    open_and_wait(qtbot, window, path)
    viewer = window.viewer

    def aligned() -> None:
        image, heat = viewer.image_scene_rect(), viewer.heatmap_scene_rect()
        assert image.width() == 520 and image.height() == 300
        for a, b in ((image.left(), heat.left()), (image.top(), heat.top()),
                     (image.right(), heat.right()), (image.bottom(), heat.bottom())):
            assert a == pytest.approx(b, abs=1e-6)
        on_screen_image = viewer.mapFromScene(image).boundingRect()
        on_screen_heat = viewer.mapFromScene(heat).boundingRect()
        assert on_screen_image == on_screen_heat

    aligned()
    viewer.actual_size()
    aligned()
    viewer.zoom_by(3.7, QPoint(40, 30))
    aligned()
    viewer.zoom_out()
    aligned()
    viewer.fit_to_window()
    aligned()


def test_viewer_zoom_pan_window_level_invert(qtbot, window, tmp_path):
    path = tmp_path / "chest.png"
    cv2.imwrite(str(path), synthetic_chest(600, seed=1))
    open_and_wait(qtbot, window, path)
    viewer = window.viewer
    qtbot.waitUntil(lambda: viewer.viewport().width() > 300)
    assert viewer.is_fitted
    fitted = viewer.zoom

    # wheel zoom keeps the point under the cursor in place (once the image overflows the view)
    viewer.zoom_by(3.0)
    zoomed = viewer.zoom
    cursor = QPoint(viewer.viewport().width() // 3, viewer.viewport().height() // 2)
    before = viewer.mapToScene(cursor)
    wheel = QWheelEvent(QPointF(cursor), QPointF(viewer.viewport().mapToGlobal(cursor)),
                        QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewer.viewport(), wheel)
    assert viewer.zoom == pytest.approx(zoomed * 1.44, rel=1e-3)
    after = viewer.mapToScene(cursor)
    assert abs(after.x() - before.x()) <= 1.0 and abs(after.y() - before.y()) <= 1.0
    assert not viewer.is_fitted

    # left-drag pans
    h_before = viewer.horizontalScrollBar().value()
    send_drag(viewer, Qt.MouseButton.LeftButton, QPoint(200, 150), QPoint(120, 150))
    assert viewer.horizontalScrollBar().value() != h_before

    # 1:1 and fit
    window.actual_action.trigger()
    assert viewer.zoom * viewer.devicePixelRatioF() == pytest.approx(1.0)
    window.fit_action.trigger()
    assert viewer.is_fitted and viewer.zoom == pytest.approx(fitted, rel=1e-3)

    # right-drag: window (horizontal) and level (vertical); R resets
    send_drag(viewer, Qt.MouseButton.RightButton, QPoint(100, 100), QPoint(40, 130))
    window_width, level = viewer.window_level
    assert window_width == pytest.approx(256 - 120) and level == pytest.approx(128 + 30)
    shown = viewer._image_item.pixmap().toImage()
    assert "W 136 L 158" in window.view_status.text()
    window.reset_wl_action.trigger()
    assert viewer.window_level == (256.0, 128.0)
    assert viewer._image_item.pixmap().toImage() != shown

    # invert
    centre = viewer._image_item.pixmap().toImage().pixelColor(300, 300).red()
    window.invert_action.trigger()
    assert viewer.inverted
    assert viewer._image_item.pixmap().toImage().pixelColor(300, 300).red() == 255 - centre


def send_drag(viewer, button, start: QPoint, end: QPoint) -> None:
    port = viewer.viewport()

    def event(kind, pos, buttons, which):
        return QMouseEvent(kind, QPointF(pos), QPointF(port.mapToGlobal(pos)), which, buttons,
                           Qt.KeyboardModifier.NoModifier)

    QApplication.sendEvent(port, event(QEvent.Type.MouseButtonPress, start, button, button))
    middle = (start + end) / 2
    for pos in (middle, end):
        QApplication.sendEvent(port, event(QEvent.Type.MouseMove, pos, button,
                                           Qt.MouseButton.NoButton))
    QApplication.sendEvent(port, event(QEvent.Type.MouseButtonRelease, end,
                                       Qt.MouseButton.NoButton, button))


def test_open_dicom_shows_tags_but_not_the_patient(qtbot, window, tmp_path):
    yy, xx = np.mgrid[0:320, 0:280]
    pixels = (600 + 2400 * np.exp(-((xx - 140) ** 2 + (yy - 160) ** 2) / 9000.0)).astype(np.uint16)
    path = write_dicom(tmp_path / "study.dcm", pixels)
    _, probability = open_and_wait(qtbot, window, path)

    assert 0.0 <= probability <= 1.0
    assert window.result_panel.probability_label.text().endswith("%")
    assert window.viewer.has_heatmap
    tags = window.result_panel.tags_label.text()
    for shown in ("DX", "CHEST", "PA", "2024-01-31"):
        assert shown in tags
    assert "Doe" not in all_label_text(window) and "ID-4711" not in all_label_text(window)
    assert window.viewer.image_scene_rect().width() == 280

    # only when asked
    with qtbot.waitSignal(window.imageScored, timeout=30000):
        window.patient_action.trigger()
    assert "Doe^Jane" in window.result_panel.tags_label.text()
    window.patient_action.trigger()
    qtbot.waitUntil(lambda: "Doe" not in window.result_panel.tags_label.text(), timeout=30000)


def test_keyboard_shortcuts_reach_the_viewer(qtbot, window, tmp_path):
    path = tmp_path / "chest.png"
    cv2.imwrite(str(path), synthetic_chest(300, seed=3))
    open_and_wait(qtbot, window, path)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    viewer = window.viewer
    assert viewer.heatmap_visible
    qtbot.keyClick(viewer, Qt.Key.Key_H)
    assert not viewer.heatmap_visible
    qtbot.keyClick(window.batch_panel.table, Qt.Key.Key_H)  # from anywhere in the window
    assert viewer.heatmap_visible
    qtbot.keyClick(viewer, Qt.Key.Key_I)
    assert viewer.inverted
    qtbot.keyClick(viewer, Qt.Key.Key_1)
    assert not viewer.is_fitted
    qtbot.keyClick(viewer, Qt.Key.Key_F)
    assert viewer.is_fitted
    opacity = viewer.heatmap_opacity
    qtbot.keyClick(viewer, Qt.Key.Key_BracketRight)
    assert viewer.heatmap_opacity == pytest.approx(min(1.0, opacity + 0.1))


def test_bad_file_shows_an_error_not_a_crash(qtbot, window, tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with qtbot.waitSignal(window.imageFailed, timeout=30000) as blocker:
        window.open_image(path)
    assert blocker.args[0] == str(path)
    assert "broken.jpg" in window.result_panel.explanation_label.text()
    assert window.result_panel.probability_label.text() == "Not scored"
    assert not window.viewer.has_image


def test_layout_fits_1366x768(qtbot, window):
    window.batch_dock.show()
    window.resize(1366, 768)
    qtbot.wait(50)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 768
    assert window.viewer.width() >= 600 and window.viewer.height() >= 250
    assert window.result_panel.isVisible()
    for action in (window.open_action, window.score_action, window.fit_action,
                   window.heatmap_action, window.cancel_action, window.csv_action,
                   window.models_action, window.invert_action):
        assert not action.shortcut().isEmpty() and action.toolTip()


def test_window_shows_before_the_model_and_gui_modules_do_not_import_tensorflow(tiny_bundle,
                                                                                 tmp_path):
    script = f"""
import json, sys, time
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
import pneumo_desktop.gui.app, pneumo_desktop.gui.window.main_window as mw
heavy = [m for m in ("tensorflow", "keras", "pneumo_desktop.model.inference", "pynetdicom")
         if m in sys.modules]
app = QApplication([])
start = time.perf_counter()
win = mw.MainWindow(model_path={str(tiny_bundle)!r},
                    settings=QSettings({str(tmp_path / 's.ini')!r}, QSettings.Format.IniFormat))
win.show()
app.processEvents()
shown = time.perf_counter() - start
ready_at_show = win.is_model_ready
status_at_show = win.model_status.text()
while not win.is_model_ready and time.perf_counter() - start < 90:
    app.processEvents()
    time.sleep(0.01)
print(json.dumps(dict(heavy=heavy, shown=shown, ready_at_show=ready_at_show,
                      status_at_show=status_at_show, ready=win.is_model_ready,
                      status=win.model_status.text())))
win.close()
"""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert not result["ready_at_show"] and "loading" in result["status_at_show"]
    assert result["ready"] and "ready" in result["status"] and "CPU" in result["status"]


def test_uncertain_only_near_the_threshold_in_log_odds():
    from pneumo_desktop.gui.viewer.result_panel import explanation_text

    assert "uncertain" in explanation_text(0.975, 0.98)
    assert "uncertain" not in explanation_text(0.998, 0.98)  # 3.5x the odds of the threshold
    assert "uncertain" in explanation_text(0.45, 0.5)
    assert "uncertain" not in explanation_text(0.2, 0.5)
    assert explanation_text(0.2, 0.5).startswith("The model found no strong sign")


def test_gui_command_passes_files_to_the_window(qtbot, monkeypatch, tmp_path):
    """`pneumo-desktop gui FILE…` (the desktop menu's "Open with") hands files to the window."""
    from PySide6.QtWidgets import QApplication

    from pneumo_desktop import cli
    from pneumo_desktop.gui.window import main_window

    received = []

    class FakeWindow:
        def show(self):
            pass

        def handle_drop(self, paths):
            received.extend(paths)

    monkeypatch.setattr(main_window, "MainWindow", FakeWindow)
    monkeypatch.setattr(QApplication, "exec", lambda self: 0)
    study = tmp_path / "a.png"
    assert cli.main(["gui", str(study)]) == 0
    assert received == [study]
