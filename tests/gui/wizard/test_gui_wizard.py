"""The training wizard end to end on a small synthetic dataset (a few training steps per run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMessageBox, QWizard

from pneumo_desktop.gui.gap_probe import GapProbe
from pneumo_desktop.gui.wizard.training_worker import CHOSEN_RULE
from pneumo_desktop.gui.wizard.wizard import TrainingWizard
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model.bundle import read_bundle
from tests.conftest import make_bundle

MAX_GUI_GAP = 0.150  # seconds the GUI thread may be busy at once during training


def _write_images(folder: Path, label: str, count: int) -> None:
    (folder / label).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        if label == "NORMAL":
            cv2.imwrite(str(folder / label / f"IM-{i:04d}-0001.jpeg"),
                        synthetic_chest(160, seed=i))
        else:
            cv2.imwrite(str(folder / label / f"person{i}_bacteria_{i + 1}.jpeg"),
                        synthetic_chest(160, seed=1000 + i, opacity=True))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """24 NORMAL + 24 PNEUMONIA synthetic images (one per patient) and one unreadable file."""
    root = tmp_path_factory.mktemp("wizard-data")
    _write_images(root, "NORMAL", 24)
    _write_images(root, "PNEUMONIA", 24)
    (root / "NORMAL" / "IM-9999-0001.jpeg").write_bytes(b"\xff\xd8 not really a JPEG")
    return root


@pytest.fixture(scope="module")
def active_model(tmp_path_factory) -> Path:
    """The 'active' model (custom_cnn, 64 px). Building it imports TensorFlow now, before any
    measurement of the GUI thread."""
    return make_bundle(tmp_path_factory.mktemp("active") / "active-model").path


@pytest.fixture
def wizard(qtbot, tmp_path, active_model):
    w = TrainingWizard(active_model=active_model, models_dir=tmp_path / "models")
    qtbot.addWidget(w)
    w.show()
    yield w
    assert w.shutdown(60000)


def check_folder(qtbot, w: TrainingWizard, folder: Path) -> bool:
    with qtbot.waitSignal(w.dataChecked, timeout=30000) as blocker:
        w.set_data_folder(folder)
    return blocker.args[0]


def quick_settings(w: TrainingWizard, *, scratch: bool, epochs: int = 2) -> None:
    page = w.model_page
    if scratch:
        page.scratch_radio.setChecked(True)
        page.arch_combo.setCurrentIndex(page.arch_combo.findData("custom_cnn"))
        page.size_spin.setValue(64)
    page.epochs_spin.setValue(epochs)
    page.batch_spin.setValue(8)
    page.steps_spin.setValue(3)


def test_gui_modules_do_not_import_tensorflow():
    code = ("import sys; from pneumo_desktop.gui.wizard.wizard import TrainingWizard; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def drop_folder(page, folder: Path) -> None:
    """Simulate dropping `folder` from a file manager onto `page`."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    args = (QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(20, 20), *args[1:])
    page.dragEnterEvent(enter)
    assert enter.isAccepted()
    page.dropEvent(QDropEvent(*args))


def test_folder_lacking_a_class_or_images_is_refused(qtbot, tmp_path, wizard):
    _write_images(tmp_path / "normal-only", "NORMAL", 6)
    with qtbot.waitSignal(wizard.dataChecked, timeout=30000) as checked:
        drop_folder(wizard.data_page, tmp_path / "normal-only")
    assert checked.args == [False]
    assert wizard.data_page.folder_edit.text() == str(tmp_path / "normal-only")
    assert "no PNEUMONIA images" in wizard.data_page.status.text()
    assert "cannot be used" in wizard.data_page.status.text()
    assert not wizard.data_page.isComplete()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()

    _write_images(tmp_path / "few", "NORMAL", 6)
    _write_images(tmp_path / "few", "PNEUMONIA", 2)
    assert not check_folder(qtbot, wizard, tmp_path / "few")
    assert "too few images" in wizard.data_page.status.text()
    assert not wizard.data_page.isComplete()


def test_kaggle_layout_shows_counts_per_split(qtbot, tmp_path, wizard):
    for split, n in (("train", 8), ("val", 4), ("test", 4)):
        _write_images(tmp_path / "kaggle" / split, "NORMAL", n)
        _write_images(tmp_path / "kaggle" / split, "PNEUMONIA", n)
    assert check_folder(qtbot, wizard, tmp_path / "kaggle")
    counts = wizard.data_page.counts_table
    rows = {counts.item(r, 0).text(): counts.item(r, 3).text() for r in range(counts.rowCount())}
    assert rows == {"train/": "16", "val/": "8", "test/": "8"}
    assert "test/ images are the test split" in wizard.data_page.split_note.text()


def test_data_check_skips_what_the_input_check_refuses(qtbot, tmp_path, wizard):
    from tests.conftest import write_dicom

    folder = tmp_path / "mixed"
    _write_images(folder, "NORMAL", 8)
    _write_images(folder, "PNEUMONIA", 8)
    cv2.imwrite(str(folder / "NORMAL" / "IM-9990-0001.png"), np.full((300, 300), 128, np.uint8))
    write_dicom(folder / "PNEUMONIA" / "person990_bacteria_1.dcm", synthetic_chest(200),
                Modality="MR")
    (folder / "NORMAL" / "IM-9991-0001.jpeg").write_bytes(b"")
    assert check_folder(qtbot, wizard, folder)
    page = wizard.data_page
    skipped = {page.unreadable_list.item(r).text().split(" — ")[0]:
               page.unreadable_list.item(r).text() for r in range(page.unreadable_list.count())}
    assert set(skipped) == {"IM-9990-0001.png", "person990_bacteria_1.dcm", "IM-9991-0001.jpeg"}
    assert "not a frontal chest X-ray: blank" in skipped["IM-9990-0001.png"]
    assert "not a frontal chest X-ray: DICOM modality MR" in skipped["person990_bacteria_1.dcm"]
    assert "not a frontal chest X-ray" not in skipped["IM-9991-0001.jpeg"]
    assert "not scored" not in "".join(skipped.values())  # said once, in the app's words
    status = page.status.text()
    assert "✔ 16 images will be used" in status
    assert "1 file(s) cannot be read" in status
    assert "2 file(s) are not frontal chest X-rays" in status and "never learned from" in status


def test_end_to_end_train_evaluate_save(qtbot, wizard, dataset, active_model):
    # 1. data: counts per class, the unreadable file with its reason, the split and its seed
    assert check_folder(qtbot, wizard, dataset)
    page = wizard.data_page
    assert page.isComplete()
    counts = page.counts_table
    assert [counts.item(0, c).text() for c in range(1, 4)] == ["25", "24", "49"]  # + broken
    assert page.unreadable_list.count() == 1
    assert "IM-9999-0001.jpeg" in page.unreadable_list.item(0).text()
    splits = [page.split_table.item(r, 0).text() for r in range(page.split_table.rowCount())]
    assert splits == ["Training", "Validation", "Test"]
    assert "seed 42" in page.split_note.text()

    # 2. model: from scratch, with a measured duration estimate
    wizard.next()
    assert wizard.currentId() == wizard.MODEL
    assert not wizard.model_page.advanced.isVisible()  # "Advanced" starts collapsed
    with qtbot.waitSignal(wizard.estimateReady, timeout=60000) as estimate:
        quick_settings(wizard, scratch=True)
    assert estimate.args[0] > 0
    assert "Estimated training time" in wizard.model_page.estimate_label.text()
    config = wizard.config()
    assert (config.architecture, config.image_size, config.init_from) == ("custom_cnn", 64, None)

    # 3. training: live curves; the GUI thread is never blocked for long
    with GapProbe() as probe, qtbot.waitSignal(wizard.trainingEnded, timeout=90000) as ended:
        wizard.next()
    assert ended.args == ["finished"]
    assert probe.ticks > 10
    assert probe.max_gap < MAX_GUI_GAP, f"GUI blocked for {probe.max_gap * 1000:.0f} ms"
    print(f"max GUI gap during training: {probe.max_gap * 1000:.0f} ms")
    plots = wizard.training_page.plots
    qtbot.waitUntil(lambda: not plots.loss.dirty and not plots.auc.dirty, timeout=3000)
    assert plots.batch_points == 6 and plots.epoch_points == 2
    assert len(plots.auc.val_y) == 2
    for canvas in plots.canvases:  # drawn once in full, then new points blitted (throttled)
        assert canvas.draw_count >= 1 and canvas.blit_count >= 1
        assert canvas.blit_count + canvas.draw_count < 6 + 2 + 4
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()

    # 4. evaluation: ROC, confusion matrix, live threshold slider, comparison with the active
    wizard.next()
    evaluation = wizard.evaluation_page
    assert evaluation.roc.curve.get_xdata().size > 1
    assert evaluation.roc.active_curve.get_xdata().size > 1
    assert evaluation.comparison_table.rowCount() == 2
    assert "active-model" in evaluation.comparison_table.item(1, 0).text()
    assert not evaluation.threshold_changed
    n_val = len(evaluation.labels)
    cells = evaluation.confusion.cells
    evaluation.slider.setValue(1)  # flag everything
    assert "Sensitivity 100 %" in evaluation.sensitivity_label.text()
    assert cells["fn"].text().count(">0<") == 1 and evaluation.threshold == pytest.approx(0.001)
    evaluation.slider.setValue(999)
    spec_text = evaluation.specificity_label.text()
    evaluation.slider.setValue(420)
    assert evaluation.threshold_changed and evaluation.threshold == pytest.approx(0.42)
    assert evaluation.roc.point.get_xdata()[0] >= 0
    total = sum(int(cells[k].text().split("<b>")[1].split("<")[0]) for k in cells)
    assert total == n_val and spec_text

    # 5. save: named bundle, made active, chosen threshold in the card
    wizard.next()
    save = wizard.save_page
    save.name_edit.setText("clinic model")
    save.active_check.setChecked(True)
    with qtbot.waitSignal(wizard.modelSaved, timeout=30000) as saved:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    path, make_active = saved.args
    assert make_active is True and Path(path) == wizard.models_dir / "clinic model"
    bundle = read_bundle(path)
    assert bundle.card.name == "clinic model"
    assert bundle.card.threshold == pytest.approx(0.42)
    assert bundle.card.threshold_rule["method"] == CHOSEN_RULE
    assert bundle.card.validation["threshold"] == pytest.approx(0.42)
    from pneumo_desktop.model.inference import Predictor

    image = cv2.imread(str(next((dataset / "PNEUMONIA").iterdir())), cv2.IMREAD_GRAYSCALE)
    probs, _ = Predictor(bundle, batch_size=1).predict_inputs(
        cv2.resize(image, (64, 64))[None, ..., None].astype(np.float32))
    assert probs.shape == (1,) and 0 <= probs[0] <= 1
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=10000)
    assert wizard.result() == QWizard.DialogCode.Accepted


def test_check_and_recalibrate_path_needs_no_training(qtbot, wizard, dataset):
    assert check_folder(qtbot, wizard, dataset)
    wizard.next()
    page = wizard.model_page
    page.calibrate_radio.setChecked(True)
    assert page.mode == "calibrate" and not page.settings.isEnabled()
    assert wizard.button(QWizard.WizardButton.NextButton).text() == "Check my images >"
    assert "No training" in page.estimate_label.text()
    with qtbot.waitSignal(wizard.trainingEnded, timeout=120000) as ended:
        wizard.next()
    assert ended.args == ["finished"], wizard.training_page.status.text()
    training = wizard.training_page
    assert not training.plots.isVisible() and not training.stop_button.isVisible()
    assert "Checking the active model" in training.title()
    assert "48 of your images scored" in training.status.text()

    wizard.next()  # evaluation: every study, cross-validated, beside the active model
    evaluation = wizard.evaluation_page
    assert len(evaluation.labels) == 48
    assert "cross-validated" in evaluation.subTitle()
    assert "Expected on new studies from your hospital" in evaluation.intro.text()
    assert "fewer than 30" in evaluation.intro.text()  # 24 of each class: warned
    assert evaluation.comparison_table.rowCount() == 2
    assert evaluation.roc.active_curve.get_xdata().size > 1

    wizard.next()
    save = wizard.save_page
    assert save.name_edit.text().startswith("active-model-recalibrated-")
    save.name_edit.setText("recalibrated")
    with qtbot.waitSignal(wizard.modelSaved, timeout=30000) as saved:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    card = read_bundle(saved.args[0]).card
    assert card.threshold_rule["method"] == "local_calibration"
    assert card.training["calibrated_from"] == "active-model"
    assert card.local["n"] == 48 and card.local["active_model"]["name"] == "active-model"


def test_fine_tune_path_cross_fits_and_saves_the_local_figures(qtbot, wizard, dataset):
    assert check_folder(qtbot, wizard, dataset)
    wizard.next()
    assert wizard.model_page.mode == "fine_tune"
    quick_settings(wizard, scratch=False, epochs=2)
    config = wizard.config()
    assert config.init_from and config.cross_fit_folds == 5 and config.freeze_batch_norm
    with qtbot.waitSignal(wizard.trainingEnded, timeout=240000) as ended:
        wizard.next()
    assert ended.args == ["finished"]
    assert "Model 6 of 6" in wizard.training_page.run_label.text()
    assert "final model" in wizard.training_page.run_label.text()
    card = wizard.outcome.result.card
    assert card.training["cross_fitting"]["folds"] == 5
    assert card.threshold_rule["method"] == "local_cross_fitting"

    wizard.next()
    evaluation = wizard.evaluation_page
    assert len(evaluation.labels) == 48  # every study, scored out of fold
    assert "Expected on new studies from your hospital" in evaluation.intro.text()
    assert evaluation.comparison_table.rowCount() == 2
    evaluation.slider.setValue(300)
    wizard.next()
    wizard.save_page.name_edit.setText("tuned")
    with qtbot.waitSignal(wizard.modelSaved, timeout=30000) as saved:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    card = read_bundle(saved.args[0]).card
    assert card.threshold == pytest.approx(0.3)
    assert card.threshold_rule["method"] == CHOSEN_RULE
    assert card.threshold_rule["suggested_rule"]["method"] == "local_cross_fitting"
    assert "chosen in the wizard" in card.local["method"]
    assert card.local["n"] == 48 and 0 <= card.local["sensitivity"] <= 1


def test_stop_keeps_the_best_model_so_far(qtbot, wizard, dataset):
    assert check_folder(qtbot, wizard, dataset)
    wizard.next()
    assert wizard.model_page.fine_tune  # fine-tuning the active model is the default
    quick_settings(wizard, scratch=False, epochs=8)
    wizard.next()
    assert wizard.training_running
    assert not wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    with qtbot.waitSignal(wizard.trainingEnded, timeout=60000) as ended:
        qtbot.waitUntil(lambda: wizard.training_page.plots.batch_points > 0, timeout=30000)
        qtbot.mouseClick(wizard.training_page.stop_button, Qt.MouseButton.LeftButton)
    assert ended.args == ["stopped"]
    result = wizard.outcome.result
    assert result.stopped_early and result.card.training["stopped_by_user"]
    assert result.card.training["epochs_run"] < 8
    assert result.card.training["fine_tuned_from"] == "active-model"
    assert wizard.training_page.plots.epoch_points >= 1
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    wizard.next()
    wizard.next()
    wizard.save_page.name_edit.setText("stopped-early")
    wizard.save_page.active_check.setChecked(False)
    with qtbot.waitSignal(wizard.modelSaved, timeout=30000) as saved:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    assert saved.args[1] is False
    card = read_bundle(saved.args[0]).card
    assert card.training["stopped_by_user"] and card.threshold_rule["method"] != CHOSEN_RULE


def test_cancel_discards_the_training(qtbot, wizard, dataset):
    assert check_folder(qtbot, wizard, dataset)
    wizard.next()
    quick_settings(wizard, scratch=True, epochs=8)
    wizard.next()
    with qtbot.waitSignal(wizard.trainingEnded, timeout=60000) as ended:
        qtbot.waitUntil(lambda: wizard.training_page.plots.batch_points > 0, timeout=30000)
        qtbot.mouseClick(wizard.training_page.cancel_button, Qt.MouseButton.LeftButton)
    assert ended.args == ["cancelled"]
    assert wizard.outcome is None
    assert "nothing was kept" in wizard.training_page.status.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    assert wizard.training_page.retry_button.isVisibleTo(wizard.training_page)
    assert not wizard.models_dir.exists() or not any(wizard.models_dir.iterdir())


def test_closing_while_training_asks_then_cancels(qtbot, wizard, dataset):
    assert check_folder(qtbot, wizard, dataset)
    wizard.next()
    quick_settings(wizard, scratch=True, epochs=8)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.training_page.plots.batch_points > 0, timeout=30000)
    wizard.reject()  # the window's Cancel button, Escape or the close box
    box = wizard.findChild(QMessageBox, "confirmCloseBox")
    assert box is not None and box.isVisible() and wizard.training_running
    with qtbot.waitSignal(wizard.trainingEnded, timeout=60000) as ended:
        box.button(QMessageBox.StandardButton.Yes).click()
    assert ended.args == ["cancelled"]
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=10000)
    assert wizard.result() == QWizard.DialogCode.Rejected
    assert not wizard.models_dir.exists()


def test_training_error_is_shown_and_nothing_is_saved(qtbot, wizard, dataset, monkeypatch):
    """Training fails in the compute process (tasks of tests/failing_tasks.py): the error
    crosses back to the wizard."""
    from pneumo_desktop.compute.process import ComputeProcess
    from pneumo_desktop.gui.wizard import training_worker

    process = ComputeProcess("tests.failing_tasks")
    monkeypatch.setattr(training_worker, "shared_process", lambda: process)
    assert check_folder(qtbot, wizard, dataset)
    wizard.next()
    quick_settings(wizard, scratch=True)
    with qtbot.waitSignal(wizard.trainingEnded, timeout=60000) as ended:
        wizard.next()
    assert ended.args == ["failed"]
    box = wizard.error_box
    assert box is not None and box.isVisible()
    assert "No space left on device" in box.informativeText()
    assert "Nothing was saved" in box.text()
    assert wizard.outcome is None and not wizard.models_dir.exists()
    box.accept()
    process.close()


def test_main_window_opens_the_wizard(qtbot, tmp_path, tiny_bundle):
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QAction

    from pneumo_desktop.gui.window.main_window import MainWindow
    from pneumo_desktop.gui.wizard.wizard import TrainingWizard

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(model_path=tiny_bundle, settings=settings, model_dirs=[tmp_path / "m"])
    qtbot.addWidget(window)
    action = window.findChild(QAction, "trainWizardAction")
    assert action is not None and action.shortcut().toString() == "Ctrl+T"
    action.trigger()
    wizard = window.findChild(TrainingWizard)
    assert wizard is not None and wizard.isVisible()
    wizard.shutdown()
    wizard.close()
    window.shutdown()
