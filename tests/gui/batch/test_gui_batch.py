"""GUI: batch scoring by drag and drop, the results table, cancel, CSV and PDF export."""

from __future__ import annotations

import csv
import re
import time

import cv2
import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QTableView

from pneumo_desktop.gui.batch.batch_model import (
    DECISION,
    ERROR,
    ERROR_COLUMN,
    NORMAL,
    PROBABILITY,
    DecisionRole,
)
from pneumo_desktop.gui.window.main_window import MainWindow
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model.scoring import CSV_COLUMNS


def make_window(qtbot, bundle, tmp_path, **kwargs) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(model_path=bundle, settings=settings, model_dirs=[tmp_path / "m"],
                     **kwargs)
    qtbot.addWidget(win)
    win.resize(1200, 760)
    win.show()
    qtbot.waitUntil(lambda: win.is_model_ready, timeout=60000)
    return win


@pytest.fixture
def window(qtbot, tiny_bundle, tmp_path):
    return make_window(qtbot, tiny_bundle, tmp_path)


def drop(window, paths) -> None:
    """Drag `paths` onto the window and drop them, as a file manager does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(300, 300), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(300, 300), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)
    assert event.isAccepted()


def double_click(widget, pos: QPoint) -> None:
    """The event sequence a platform delivers for a double-click."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for kind, buttons in ((QEvent.Type.MouseButtonPress, left),
                          (QEvent.Type.MouseButtonRelease, none),
                          (QEvent.Type.MouseButtonDblClick, left),
                          (QEvent.Type.MouseButtonRelease, none)):
        QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(pos),
                                                   QPointF(widget.mapToGlobal(pos)), left,
                                                   buttons, Qt.KeyboardModifier.NoModifier))


def score_by_drop(qtbot, window, folder) -> tuple[int, int]:
    with qtbot.waitSignal(window.batchFinished, timeout=60000) as blocker:
        drop(window, [folder])
    return tuple(blocker.args)


def test_drop_folder_fills_table_with_errors_and_counts(qtbot, window, image_folder):
    scored_paths: list[str] = []
    window.imageScored.connect(lambda path, p: scored_paths.append(path))
    assert score_by_drop(qtbot, window, image_folder) == (4, 2)

    model = window.batch_model
    table = window.findChild(QTableView, "batchTable")
    assert table.model() is window.batch_panel.proxy and model.rowCount() == 6
    assert window.batch_dock.isVisible()
    assert len(scored_paths) == 4
    errors = {model.item(r).path.name: model.data(model.index(r, ERROR_COLUMN))
              for r in range(6) if model.item(r).prediction is None}
    assert set(errors) == {"empty.jpg", "truncated.jpg"}
    assert "empty" in errors["empty.jpg"] and "truncated" in errors["truncated.jpg"]
    for r in range(6):
        decision = model.data(model.index(r, DECISION))
        if model.item(r).prediction is None:
            assert decision == "Not scored" and model.data(model.index(r, PROBABILITY)) == ""
        else:
            assert decision in ("Pneumonia suspected", "No pneumonia suspected")
            assert model.data(model.index(r, PROBABILITY)).endswith("%")
    names = {model.data(model.index(r, 0)) for r in range(6)}
    assert "sub/study3.png" in names
    colors = {model.data(model.index(r, 0), DecisionRole):
              model.data(model.index(r, 0), Qt.ItemDataRole.BackgroundRole).color().name()
              for r in range(6)}
    assert len(set(colors.values())) == len(colors)  # one colour per decision
    assert "6 files" in window.batch_panel.summary_label.text()
    assert "2 not scored" in window.batch_panel.summary_label.text()
    assert window.batch_panel.progress_bar.value() == 6
    assert "images/s" in window.batch_panel.rate_label.text()


def test_dropping_one_file_opens_it(qtbot, window, image_folder):
    with qtbot.waitSignal(window.imageScored, timeout=30000) as blocker:
        drop(window, [image_folder / "study1.jpg"])
    assert blocker.args[0] == str(image_folder / "study1.jpg")
    assert window.viewer.has_image and not window.is_batch_running


def test_table_filters_sorts_and_opens_on_double_click(qtbot, window, image_folder):
    score_by_drop(qtbot, window, image_folder)
    proxy = window.batch_panel.proxy
    combo = window.batch_panel.filter_combo
    combo.setCurrentIndex(3)  # errors
    assert proxy.rowCount() == 2
    assert {proxy.index(r, 0).data(DecisionRole) for r in range(2)} == {ERROR}
    combo.setCurrentIndex(1)
    flagged = proxy.rowCount()
    combo.setCurrentIndex(2)
    assert flagged + proxy.rowCount() == 4
    assert all(proxy.index(r, 0).data(DecisionRole) == NORMAL for r in range(proxy.rowCount()))
    combo.setCurrentIndex(0)
    assert proxy.rowCount() == 6

    table = window.batch_panel.table
    table.sortByColumn(PROBABILITY, Qt.SortOrder.DescendingOrder)
    probabilities = [window.batch_model.item(proxy.mapToSource(proxy.index(r, 0)).row())
                     for r in range(6)]
    values = [i.prediction.probability if i.prediction else -1 for i in probabilities]
    assert values == sorted(values, reverse=True)

    top = proxy.index(0, 0)
    path = window.batch_model.item(proxy.mapToSource(top).row()).path
    rect = table.visualRect(top)
    with qtbot.waitSignal(window.imageScored, timeout=30000) as blocker:
        double_click(table.viewport(), rect.center())
    assert blocker.args[0] == str(path)
    assert window.viewer.has_heatmap and window.viewer.heatmap_visible
    # the viewer shows the same probability as the table
    assert blocker.args[1] == pytest.approx(values[0], abs=1e-4)

    with qtbot.waitSignal(window.imageScored, timeout=30000) as blocker:
        window.next_action.trigger()
    second = window.batch_model.item(proxy.mapToSource(proxy.index(1, 0)).row()).path
    assert blocker.args[0] == str(second)


def test_threshold_override_relabels_rows(qtbot, window, image_folder):
    score_by_drop(qtbot, window, image_folder)
    window.set_threshold_override(0.001)
    assert window.batch_model.counts() == (4, 4, 2)
    window.set_threshold_override(0.999)
    assert window.batch_model.counts() == (4, 0, 2)
    window.set_threshold_override(None)
    assert window.batch_model.threshold == 0.5


def test_csv_export_matches_the_cli(qtbot, window, image_folder, tiny_bundle, tmp_path):
    score_by_drop(qtbot, window, image_folder)
    out = tmp_path / "gui.csv"
    assert window.export_csv(out)
    with open(out, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        gui_rows = list(reader)

    from pneumo_desktop.cli import main

    cli_out = tmp_path / "cli.csv"
    assert main(["score", str(image_folder), "--out", str(cli_out), "--model",
                 str(tiny_bundle)]) == 3  # partial: some files failed
    with open(cli_out, newline="", encoding="utf-8") as handle:
        cli_rows = list(csv.DictReader(handle))
    assert [r["path"] for r in gui_rows] == [r["path"] for r in cli_rows]
    for gui, cli in zip(gui_rows, cli_rows, strict=True):
        columns = ("prediction", "threshold", "model", "error", "input_check")
        assert [gui[c] for c in columns] == [cli[c] for c in columns]
        if cli["probability"]:
            assert float(gui["probability"]) == pytest.approx(float(cli["probability"]),
                                                              abs=1e-4)
    assert sum(1 for r in gui_rows if r["error"]) == 2


def record_report_text(monkeypatch) -> list[str]:
    """Every text the PDF report draws, in order (the PDF itself is compressed)."""
    from pneumo_desktop.gui.batch import report

    drawn: list[str] = []
    original = report._Page.text

    def text(page, value, *args, **kwargs):
        drawn.append(value)
        return original(page, value, *args, **kwargs)

    monkeypatch.setattr(report._Page, "text", text)
    return drawn


def test_pdf_report_has_summary_and_one_page_per_flagged_study(qtbot, window, image_folder,
                                                               tmp_path, monkeypatch):
    drawn = record_report_text(monkeypatch)
    score_by_drop(qtbot, window, image_folder)
    window.set_threshold_override(0.001)  # every scored study is flagged
    out = tmp_path / "report.pdf"
    with qtbot.waitSignal(window.reportWritten, timeout=60000) as blocker:
        assert window.export_pdf(out)
    assert blocker.args == [str(out)]
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
    assert pages == 1 + 4
    assert not list(tmp_path.glob(".report.pdf.*"))  # written atomically
    # the tiny model's card has no figures, and none from this clinic: said on every page
    assert sum("The model's own threshold is 50 %; the model card gives no validated" in t
               for t in drawn) == 1 + 4
    assert sum("Not yet checked on this clinic's studies" in t for t in drawn) == 1 + 4


def test_pdf_report_names_the_source_of_its_figures(tmp_path, monkeypatch):
    from pneumo_desktop.gui.batch.report import ReportData, write_report
    from pneumo_desktop.model.bundle import ModelCard
    from pneumo_desktop.model.inference import Prediction, ScoredFile

    drawn = record_report_text(monkeypatch)
    study = tmp_path / "study.png"
    cv2.imwrite(str(study), synthetic_chest(256, seed=3, opacity=True))
    card = ModelCard(name="clinic", architecture="custom_cnn", input_size=64, threshold=0.6,
                     validation={"n": 741, "threshold": 0.95, "sensitivity": 0.966,
                                 "specificity": 0.995},
                     local={"n": 150, "n_pneumonia": 94, "n_normal": 56, "sensitivity": 0.957,
                            "specificity": 0.75, "sensitivity_ci95": [0.896, 0.983],
                            "specificity_ci95": [0.624, 0.845]})
    items = [ScoredFile(study, Prediction(probability=0.9, threshold=0.6))]
    write_report(tmp_path / "r.pdf", ReportData(items, "clinic", 0.6, card), None)
    figures = [t for t in drawn if "of your studies" in t]
    assert len(figures) == 2  # the summary and the flagged study's page
    for text in figures:
        local, training = text.split("\n")
        assert local.startswith("Threshold 60 %. On 150 of your studies, cross-validated: it "
                                "flagged 96 % of pneumonia cases (sensitivity, 95 % CI 90–98 %)")
        assert training.startswith("At the hospital the model was trained on (validation "
                                   "split, 741 studies), at the threshold set there (95 %)")
    assert not any("Not yet checked" in t for t in drawn)


def test_cancel_stops_quickly_and_keeps_rows(qtbot, tiny_bundle, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    encoded = [cv2.imencode(".png", synthetic_chest(1024, seed=s))[1].tobytes() for s in range(3)]
    for i in range(60):
        (folder / f"img{i:02d}.png").write_bytes(encoded[i % 3])
    window = make_window(qtbot, tiny_bundle, tmp_path, batch_size=4)
    cancelled_at: list[float] = []

    def cancel_on_first(path: str, probability: float) -> None:
        if not cancelled_at:
            cancelled_at.append(time.perf_counter())
            window.cancel_batch()

    window.imageScored.connect(cancel_on_first)
    with qtbot.waitSignal(window.batchFinished, timeout=60000) as blocker:
        assert window.score_folder(folder)
    stopped = time.perf_counter() - cancelled_at[0]
    print(f"\ncancel: stopped {stopped * 1000:.0f} ms after the request; "
          f"{window.batch_model.rowCount()} of 60 rows kept")
    scored, failed = blocker.args
    rows = window.batch_model.rowCount()
    assert 0 < rows < 60 and rows == scored + failed and failed == 0
    assert stopped < 1.5
    assert not window.is_batch_running
    assert "cancelled" in window.batch_panel.rate_label.text()
    assert window.batch_panel.score_button.isEnabled()
    qtbot.wait(200)  # nothing arrives after the end
    assert window.batch_model.rowCount() == rows
    assert window.export_csv(tmp_path / "partial.csv")


def test_batch_waits_for_a_loading_model_and_refuses_a_second_batch(qtbot, tiny_bundle,
                                                                    image_folder, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(model_path=tiny_bundle, settings=settings, model_dirs=[])
    qtbot.addWidget(window)
    window.show()
    second: list[bool] = []
    window.imageScored.connect(
        lambda *_: second or second.append(window.score_folder(image_folder)))
    with qtbot.waitSignal(window.batchFinished, timeout=60000) as blocker:
        assert not window.is_model_ready
        assert window.score_folder(image_folder)  # queued until the model is ready
    assert blocker.args == [4, 2]
    assert second == [False]  # refused while the first batch ran
    assert window.batch_model.rowCount() == 6
