"""GUI: the heat map's display rule (issue 24): below the model's `show_from` probability the
viewer gets no layer and the panel says why; the relative map still comes on request."""

from __future__ import annotations

import json
import shutil

import cv2
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QCheckBox, QLabel

from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model.heatmaps import HeatScale


def scaled_window(qtbot, tiny_bundle, tmp_path, show_from: float):
    from pneumo_desktop.gui.window.main_window import MainWindow

    folder = tmp_path / "scaled"
    shutil.copytree(tiny_bundle, folder)
    card = json.loads((folder / "model.json").read_text())
    card["heatmap"] = HeatScale(red=0.05, show_from=show_from, source="test").to_card()
    (folder / "model.json").write_text(json.dumps(card))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(model_path=folder, settings=settings, model_dirs=[tmp_path / "m"])
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.is_model_ready, timeout=60000)
    return win


@pytest.mark.parametrize("show_from", [0.0, 1.0])
def test_the_rule_hides_the_map_and_says_why(qtbot, tiny_bundle, tmp_path, show_from):
    win = scaled_window(qtbot, tiny_bundle, tmp_path, show_from)
    path = tmp_path / "chest.png"
    cv2.imwrite(str(path), synthetic_chest(300, seed=3))
    with qtbot.waitSignal(win.imageScored, timeout=30000):
        win.open_image(path)
    rule = win.findChild(QLabel, "heatmapRule")
    relative = win.findChild(QCheckBox, "relativeHeatmapToggle")
    assert win.findChild(QLabel, "heatmapNote").text().startswith("Same scale on every film")
    if show_from == 0.0:  # every film gets its map on the fixed scale
        assert win.viewer.has_heatmap and not rule.isVisible()
        return
    assert not win.viewer.has_heatmap
    assert rule.isVisible() and "no region raised the score" in rule.text()
    assert relative.isVisible()
    relative.setChecked(True)
    assert win.viewer.has_heatmap  # the per-film view, on request
    relative.setChecked(False)
    assert not win.viewer.has_heatmap
