"""GUI: studies the input check refuses (not frontal chest radiographs of children).

The viewer withholds their score and heat map behind a "Not scored — reason" banner until
"Score anyway", which then shows them marked outside what the model was made for; the batch
table, its filter, the CSV and the PDF report say the same. The tiny test bundles have no
learned check, so the refusals here come from DICOM tags and pixels.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from pneumo_desktop.gui.batch import report
from pneumo_desktop.gui.batch.batch_model import (
    DECISION,
    ERROR,
    ERROR_COLUMN,
    PROBABILITY,
    REFUSED,
    ROW_COLORS,
    DecisionRole,
    PathRole,
)
from pneumo_desktop.gui.window.main_window import MainWindow
from pneumo_desktop.gui.window.model_manager import ModelManagerDialog, input_check_text
from pneumo_desktop.imaging.synthetic import synthetic_chest
from tests.conftest import write_dicom

OUTSIDE = "outside what the model was made for"


@pytest.fixture
def studies(tmp_path) -> Path:
    """A chest film, an MR DICOM, a blank frame and an unreadable file."""
    folder = tmp_path / "studies"
    folder.mkdir()
    cv2.imwrite(str(folder / "chest.png"), synthetic_chest(300, seed=1))
    write_dicom(folder / "mr.dcm", synthetic_chest(300, seed=2), Modality="MR",
                BodyPartExamined="CHEST")
    cv2.imwrite(str(folder / "blank.png"), np.full((300, 300), 128, np.uint8))
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def open_refused(qtbot, win: MainWindow, path: Path) -> str:
    """Open `path`, expecting the input check to refuse it; the reason."""
    scored: list[str] = []
    win.imageScored.connect(lambda p, _: scored.append(p))
    with qtbot.waitSignal(win.imageRefused, timeout=30000) as blocker:
        win.open_image(path)
    assert blocker.args[0] == str(path) and not scored  # no score was announced
    return blocker.args[1]


def assert_withheld(win: MainWindow, reason: str) -> None:
    panel, viewer = win.result_panel, win.viewer
    assert viewer.has_image
    assert viewer.banner.isVisible() and viewer.banner_text == f"Not scored — {reason}"
    assert not panel.refusal_banner.isHidden()
    assert panel.refusal_banner.text() == f"Not scored — {reason}"
    assert panel.probability_label.text() == "Not scored"
    assert panel.score_bar.isHidden() and panel.decision_label.isHidden()
    assert panel.probability_caption.isHidden() and panel.outside_banner.isHidden()
    assert "%" not in panel.probability_label.text()
    assert not viewer.has_heatmap and not viewer.heatmap_visible
    assert not panel.score_anyway_button.isHidden() and win.score_anyway_action.isEnabled()


def test_refused_study_is_not_scored_until_score_anyway(qtbot, window, studies):
    reason = open_refused(qtbot, window, studies / "mr.dcm")
    assert "modality MR" in reason and "magnetic resonance" in reason
    assert_withheld(window, reason)
    window.heatmap_action.trigger()  # H: nothing to show
    window.heatmap_action.trigger()
    assert not window.viewer.heatmap_visible
    assert "not scored: " in window.statusBar().currentMessage()
    assert window.current_result.withheld

    # "Score anyway": the score computed with the study, no new model run, clearly marked
    withheld = window.current_result.prediction.probability
    with qtbot.waitSignal(window.imageScored, timeout=1000) as blocker:
        window.result_panel.score_anyway_button.click()
    assert blocker.args == [str(studies / "mr.dcm"), pytest.approx(withheld)]
    panel = window.result_panel
    assert panel.probability_label.text().endswith("%") and not panel.score_bar.isHidden()
    assert panel.decision_label.text() in ("Pneumonia suspected", "No pneumonia suspected")
    assert not panel.outside_banner.isHidden()
    assert OUTSIDE in panel.outside_banner.text() and reason in panel.outside_banner.text()
    assert panel.refusal_banner.isHidden() and panel.score_anyway_button.isHidden()
    assert OUTSIDE in window.viewer.banner_text and reason in window.viewer.banner_text
    assert window.viewer.has_heatmap and window.viewer.heatmap_visible
    assert not window.score_anyway_action.isEnabled() and not window.score_anyway()

    window.set_threshold_override(0.2)  # the mark stays with the score
    assert not panel.outside_banner.isHidden() and OUTSIDE in window.viewer.banner_text
    window.set_threshold_override(None)

    # another study resets it
    with qtbot.waitSignal(window.imageScored, timeout=30000):
        window.open_image(studies / "chest.png")
    assert panel.outside_banner.isHidden() and panel.refusal_banner.isHidden()
    assert window.viewer.banner_text == "" and window.viewer.has_heatmap
    assert panel.probability_label.text().endswith("%")
    assert not window.score_anyway_action.isEnabled()

    reason = open_refused(qtbot, window, studies / "blank.png")
    assert "blank" in reason
    assert_withheld(window, reason)
    window.score_anyway_action.trigger()  # the Study menu's action does the same
    assert OUTSIDE in window.viewer.banner_text and window.viewer.has_heatmap
    reason = open_refused(qtbot, window, studies / "mr.dcm")  # opened again: withheld again
    assert_withheld(window, reason)


def test_batch_marks_refused_rows_filters_and_exports(qtbot, window, studies, tmp_path):
    with qtbot.waitSignal(window.batchFinished, timeout=60000) as blocker:
        window.score_folder(studies)
    assert blocker.args == [1, 3]
    assert "1 scored, 2 not scored" in window.statusBar().currentMessage()
    model = window.batch_model
    rows = {model.item(r).path.name: r for r in range(model.rowCount())}
    for name in ("mr.dcm", "blank.png"):
        r = rows[name]
        assert model.data(model.index(r, DECISION)) == "Not scored"
        assert model.data(model.index(r, PROBABILITY)) == ""
        note = model.data(model.index(r, ERROR_COLUMN))
        assert note.startswith("not scored: ") and model.item(r).refusal.reason in note
        assert model.data(model.index(r, 0), DecisionRole) == REFUSED
    assert model.data(model.index(rows["empty.jpg"], 0), DecisionRole) == ERROR
    assert ROW_COLORS[REFUSED] != ROW_COLORS[ERROR]
    summary = window.batch_panel.summary_label.text()
    assert "4 files" in summary and "3 not scored (2 by the input check)" in summary

    panel, proxy = window.batch_panel, window.batch_panel.proxy

    def shown(label: str) -> set[str]:
        panel.filter_combo.setCurrentIndex(panel.filter_combo.findText(label))
        return {Path(proxy.index(r, 0).data(PathRole)).name for r in range(proxy.rowCount())}

    assert shown("Not scored (input check)") == {"mr.dcm", "blank.png"}
    assert shown("Not scored (unreadable)") == {"empty.jpg"}
    assert shown("Not scored (all)") == {"mr.dcm", "blank.png", "empty.jpg"}
    assert shown("All files") == set(rows)

    out = tmp_path / "gui.csv"
    assert window.export_csv(out)
    with open(out, newline="", encoding="utf-8") as handle:
        exported = {Path(r["path"]).name: r for r in csv.DictReader(handle)}
    assert exported["chest.png"]["input_check"].startswith("passed")
    assert "no learned check" in exported["chest.png"]["input_check"]  # tiny bundles lack one
    for name in ("mr.dcm", "blank.png"):
        assert exported[name]["input_check"] == "refused"
        assert exported[name]["error"].startswith("not scored: ")
        assert exported[name]["probability"] == ""
    assert exported["empty.jpg"]["input_check"] == "" and exported["empty.jpg"]["error"]

    # a refused row opened from the table shows the banner; "Score anyway" reveals its row too
    shown("Not scored (input check)")
    mr_row = next(r for r in range(proxy.rowCount())
                  if proxy.index(r, 0).data(PathRole).endswith("mr.dcm"))
    panel.table.setCurrentIndex(proxy.index(mr_row, 0))
    with qtbot.waitSignal(window.imageRefused, timeout=30000):
        panel.table.activated.emit(proxy.index(mr_row, 0))
    assert window.viewer.banner_text.startswith("Not scored — ")
    assert window.score_anyway()
    assert shown("Not scored (input check)") == {"blank.png"}
    r = rows["mr.dcm"]
    assert "outside intended use" in model.data(model.index(r, DECISION))
    assert model.data(model.index(r, PROBABILITY)).endswith("%")
    assert model.data(model.index(r, ERROR_COLUMN)).startswith(OUTSIDE)
    assert "scored anyway, outside intended use" in window.batch_panel.summary_label.text()
    assert window.export_csv(out)
    with open(out, newline="", encoding="utf-8") as handle:
        exported = {Path(r["path"]).name: r for r in csv.DictReader(handle)}
    assert exported["mr.dcm"]["input_check"].startswith(f"scored anyway, {OUTSIDE}")
    assert exported["mr.dcm"]["probability"] and not exported["mr.dcm"]["error"]


def test_pdf_report_lists_refused_studies_and_marks_scored_anyway(qtbot, window, studies,
                                                                  tmp_path, monkeypatch):
    with qtbot.waitSignal(window.batchFinished, timeout=60000):
        window.score_folder(studies)
    with qtbot.waitSignal(window.imageRefused, timeout=30000):
        window.open_image(studies / "blank.png")
    assert window.score_anyway()
    window.set_threshold_override(0.001)  # every scored study is flagged: it gets a page
    written: list[str] = []
    original = report._Page.text
    monkeypatch.setattr(report._Page, "text", lambda self, text, *a, **k: (
        written.append(text), original(self, text, *a, **k)))
    out = tmp_path / "report.pdf"
    with qtbot.waitSignal(window.reportWritten, timeout=60000):
        assert window.export_pdf(out)
    text = "\n".join(written)
    assert "1 not scored by the input check" in text and "1 could not be read" in text
    mr = next(i for i in window.batch_model.items() if i.path.name == "mr.dcm")
    assert "Not scored: not a frontal chest X-ray of a child (input check)" in text
    assert f"mr.dcm — {mr.refusal.reason}" in text
    assert "Not scored: unreadable files" in text and "empty.jpg — " in text
    assert "Scored anyway, outside intended use" in text and f"blank.png — {OUTSIDE}" in text
    assert "⚠ Scored anyway, outside intended use: the input check refused this study" in text
    assert out.read_bytes().startswith(b"%PDF")


def test_model_manager_says_whether_a_learned_check_is_fitted(qtbot, tiny_bundle):
    dialog = ModelManagerDialog(folders=[tiny_bundle.parent])
    qtbot.addWidget(dialog)
    assert dialog.select(tiny_bundle)
    assert ("learned input check: missing — only DICOM tags and pixels are checked"
            in dialog.card_view.toPlainText())

    from pneumo_desktop.model.bundle import ModelBundle, read_bundle

    card = read_bundle(tiny_bundle).card
    card.input_check = {"sha256": "0" * 64, "validation_refused": 0.031}
    assert input_check_text(ModelBundle(tiny_bundle, card)) == \
        "learned input check: fitted (refuses 3.1 % of validation films)"
