"""GUI: switching models, the model manager, missing models, persisted settings."""

from __future__ import annotations

import json

import cv2
import pytest
from conftest import make_bundle
from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QLabel, QTextBrowser

from pneumo_desktop.gui.settings import AppSettings
from pneumo_desktop.gui.window.main_window import MainWindow
from pneumo_desktop.gui.window.model_manager import ModelManagerDialog
from pneumo_desktop.gui.window.preferences import PreferencesDialog
from pneumo_desktop.imaging.synthetic import synthetic_chest


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """Two tiny bundles (different weights, thresholds and cards) and a broken one."""
    folder = tmp_path_factory.mktemp("models")
    make_bundle(folder / "first", seed=0, name="first")
    make_bundle(folder / "second", seed=1, threshold=0.3, name="second")
    card = json.loads((folder / "second" / "model.json").read_text())
    card["validation"] = {"sensitivity": 0.95, "specificity": 0.81, "auc": 0.93}
    card["threshold_rule"] = {"method": "target_sensitivity", "target": 0.95}
    # the card may change freely: the checksum covers model.keras only
    (folder / "second" / "model.json").write_text(json.dumps(card))
    broken = folder / "broken"
    broken.mkdir()
    (broken / "model.json").write_text("{not json")
    (broken / "model.keras").write_bytes(b"junk")
    return folder


def ini(tmp_path, name="settings.ini") -> QSettings:
    return QSettings(str(tmp_path / name), QSettings.Format.IniFormat)


def new_window(qtbot, model_path, settings, model_dirs, wait=True) -> MainWindow:
    win = MainWindow(model_path=model_path, settings=settings, model_dirs=model_dirs)
    qtbot.addWidget(win)
    win.show()
    if wait:
        qtbot.waitUntil(lambda: win.is_model_ready, timeout=60000)
    return win


def test_switch_model_rescores_the_open_study(qtbot, model_dir, tmp_path):
    window = new_window(qtbot, model_dir / "first", ini(tmp_path), [model_dir])
    assert "first" in window.model_status.text() and "ready" in window.model_status.text()
    image = tmp_path / "chest.png"
    cv2.imwrite(str(image), synthetic_chest(256, seed=5, opacity=True))
    with qtbot.waitSignal(window.imageScored, timeout=30000) as first:
        window.open_image(image)

    with qtbot.waitSignals([window.modelReady, window.imageScored], timeout=60000):
        window.switch_model(model_dir / "second")
    assert window.model_name == "second"
    assert "second" in window.model_status.text()
    assert window.settings.active_model == str(model_dir / "second")
    assert window.current_result.prediction.probability != first.args[1]
    assert window.threshold == pytest.approx(0.3)
    operating = window.result_panel.operating_label.text()
    assert "95 %" in operating and "81 %" in operating and "30 %" in operating
    assert "At the hospital the model was trained on (validation split)" in operating
    assert "In validation" not in operating
    warning = window.result_panel.figures_warning
    assert warning.isVisible() and "Not yet checked on this clinic's studies" in warning.text()
    assert "training hospital's validation split" in \
        window.result_panel.operating_label.toolTip()
    assert "second" in window.result_panel.model_label.text()


def test_model_manager_lists_cards_errors_and_switches(qtbot, model_dir, tmp_path):
    window = new_window(qtbot, model_dir / "first", ini(tmp_path), [model_dir])
    dialog = window.open_model_manager()
    assert isinstance(dialog, ModelManagerDialog)
    entries = dict((p.name, e) for p, e in dialog.entries())
    assert set(entries) == {"first", "second", "broken"}
    assert "(active)" in dialog.list.item(dialog.list.currentRow()).text()
    assert not dialog.activate_button.isEnabled()  # already active

    assert dialog.select(model_dir / "broken")
    assert "cannot be used" in dialog.card_view.toPlainText()
    assert "not valid JSON" in dialog.card_view.toPlainText()
    assert not dialog.activate_button.isEnabled()
    dialog.activate()  # nothing happens for a broken bundle
    assert window.model_name == "first"

    assert dialog.select(model_dir / "second")
    text = " ".join(dialog.card_view.toPlainText().split())  # table cells on one line
    assert "second" in text and "custom_cnn" in text
    assert "Figures from the training hospital's validation split" in text
    assert ("At the hospital the model was trained on (validation split), it flagged 95 % of "
            "pneumonia cases") in text
    assert "Not yet checked on this clinic's studies" in text
    assert "flag 95 % of pneumonia cases" in text
    with qtbot.waitSignal(window.modelReady, timeout=60000) as blocker:
        dialog.activate_button.click()
    assert blocker.args == ["second"]
    dialog.close()


def test_locally_calibrated_model_shows_its_local_figures_first(qtbot, model_dir):
    from pneumo_desktop.gui.viewer.result_panel import ResultPanel
    from pneumo_desktop.gui.window.model_manager import card_html
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.model.inference import Prediction

    card = read_bundle(model_dir / "second").card
    card.validation = {"n": 741, "threshold": 0.3, "sensitivity": 0.97, "specificity": 0.99}
    card.threshold = 0.62
    card.threshold_rule = {"method": "local_calibration", "target": 0.95}
    card.local = {"n": 150, "n_pneumonia": 94, "n_normal": 56, "auc": 0.964,
                  "sensitivity": 0.957, "specificity": 0.75,
                  "sensitivity_ci95": [0.896, 0.983], "specificity_ci95": [0.624, 0.845],
                  "method": "Platt recalibration", "active_model": {
                      "name": "second", "threshold": 0.3, "sensitivity": 0.99,
                      "specificity": 0.7}}
    panel = ResultPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_model(card, card.threshold)
    panel.show_prediction(Prediction(probability=0.8, threshold=card.threshold))
    local, training = panel.operating_label.text().split("\n")
    assert local == ("Threshold 62 %. On 150 of your studies, cross-validated: it flagged 96 % "
                     "of pneumonia cases (sensitivity, 95 % CI 90–98 %) and cleared 75 % of "
                     "normal X-rays (specificity, 95 % CI 62–84 %).")
    assert training == ("At the hospital the model was trained on (validation split, 741 "
                        "studies), at the threshold set there (30 %): sensitivity 97 %, "
                        "specificity 99 %.")
    assert panel.figures_warning.isHidden()
    assert "150 of your studies, cross-validated" in panel.operating_label.toolTip()

    view = QTextBrowser()
    qtbot.addWidget(view)
    view.setHtml(card_html(model_dir / "second", card, active=False))
    text = " ".join(view.toPlainText().split())  # table cells on one line
    assert "Figures from 150 of your studies, cross-validated" in text
    assert text.index("On 150 of your studies") < text.index("At the hospital the model")
    assert "chosen on your studies to flag 95 % of pneumonia cases" in text
    assert "The model it was adapted from (second) at its threshold of 30 %" in text
    assert "Your studies" in text and "Not yet checked" not in text


def test_model_manager_add_folder_reports_a_bad_bundle(qtbot, model_dir, tmp_path):
    dialog = ModelManagerDialog(folders=[tmp_path / "nothing-here"])
    qtbot.addWidget(dialog)
    assert dialog.entries() == [] and "No models found" in dialog.card_view.toPlainText()
    assert "not valid JSON" in dialog.add_folder(model_dir / "broken")
    assert dialog.add_folder(model_dir / "first") is None
    assert len(dialog.entries()) == 2


def test_missing_model_is_reported_not_fatal(qtbot, tmp_path, image_folder):
    window = new_window(qtbot, tmp_path / "no-such-model", ini(tmp_path), [tmp_path],
                        wait=False)
    qtbot.waitUntil(lambda: not window.is_model_loading, timeout=60000)
    assert not window.is_model_ready
    assert "No model" in window.model_status.text()
    with qtbot.waitSignal(window.imageOpened, timeout=30000):
        window.open_image(image_folder / "study0.jpg")
    assert window.viewer.has_image and not window.viewer.has_heatmap
    assert "No model" in window.result_panel.explanation_label.text()
    assert not window.score_folder(image_folder)


def test_default_model_falls_back_to_a_usable_bundle(qtbot, model_dir, tmp_path):
    settings = AppSettings(ini(tmp_path))
    settings.active_model = str(tmp_path / "gone")  # chosen earlier, deleted since
    window = MainWindow(settings=settings, model_dirs=[model_dir])
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.is_model_ready, timeout=60000)
    assert window.model_name == "first"


def test_threshold_override_warns_and_settings_persist(qtbot, model_dir, tmp_path):
    window = new_window(qtbot, model_dir / "second", ini(tmp_path), [model_dir])
    assert window.threshold_status.text() == "Threshold 30 %"
    window.set_threshold_override(0.2)
    assert "⚠" in window.threshold_status.text() and "30 %" in window.threshold_status.text()
    assert not window.result_panel.threshold_warning.isHidden()
    window.result_panel.opacity_slider.setValue(35)
    window.close()

    again = new_window(qtbot, model_dir / "second", ini(tmp_path), [model_dir])
    assert again.settings.threshold_override == pytest.approx(0.2)
    assert again.threshold == pytest.approx(0.2)
    assert again.predictor.threshold == pytest.approx(0.2)
    assert "⚠ Threshold 20 %" in again.threshold_status.text()
    assert again.result_panel.opacity_slider.value() == 35
    assert again.viewer.heatmap_opacity == pytest.approx(0.35)
    again.set_threshold_override(None)
    assert again.threshold_status.text() == "Threshold 30 %"
    assert again.result_panel.threshold_warning.isHidden()
    assert AppSettings(ini(tmp_path)).threshold_override is None


def test_preferences_dialog_warns_when_threshold_differs(qtbot):
    dialog = PreferencesDialog(model_threshold=0.4, override=None)
    qtbot.addWidget(dialog)
    assert dialog.override() is None and dialog.warning.isHidden()
    dialog.override_check.setChecked(True)
    dialog.spin.setValue(25.0)
    assert dialog.override() == pytest.approx(0.25)
    assert not dialog.warning.isHidden()
    dialog.spin.setValue(40.0)
    assert dialog.warning.isHidden()


def test_make_application_names_the_settings_store(qapp):
    from pneumo_desktop.gui.app import make_application, resources_dir

    assert make_application([]) is qapp
    assert QCoreApplication.organizationName() == "PneumoDesktop"
    assert QCoreApplication.applicationName() == "Pneumo Desktop"
    assert (resources_dir() / "icon.png").is_file()
    assert not qapp.windowIcon().isNull()


def test_empty_window_says_what_to_do(qtbot, tmp_path, tiny_bundle):
    window = new_window(qtbot, tiny_bundle, ini(tmp_path), [])
    banner = window.findChild(QLabel, "disclaimerBanner")
    assert banner.isVisible() and "not a diagnosis" in banner.text()
    assert window.result_panel.explanation_label.text().startswith("Open an X-ray")


def test_study_opened_while_the_model_loads_is_scored_once_ready(qtbot, tmp_path, tiny_bundle,
                                                                  image_folder):
    window = new_window(qtbot, tiny_bundle, ini(tmp_path), [], wait=False)
    with qtbot.waitSignal(window.imageScored, timeout=60000) as blocker:
        window.open_image(image_folder / "study2.jpg")
    assert blocker.args[0] == str(image_folder / "study2.jpg")
    assert window.is_model_ready and window.viewer.has_heatmap
