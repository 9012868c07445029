"""The side panel: what was opened, the model's result in plain words, and heat-map controls."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from pneumo_desktop.evaluation.figures_source import (
    percent,
    performance_statement,
    probability_caption,
)
from pneumo_desktop.gui.imaging import legend_qimage
from pneumo_desktop.model.heatmaps import HeatScale

if TYPE_CHECKING:
    from pneumo_desktop.imaging.checks import Refusal
    from pneumo_desktop.model.bundle import ModelCard
    from pneumo_desktop.model.inference import Prediction

PNEUMONIA_COLOR = QColor(183, 28, 28)
NORMAL_COLOR = QColor(27, 94, 32)
ERROR_COLOR = QColor(120, 120, 120)
WARNING_STYLE = ("background:#fff3cd; color:#664d03; border:1px solid #e0c060;"
                 "border-radius:4px; padding:4px;")
BANNER_TEXT = "Decision support only — not a diagnosis"
#: A study the input check refused (no score shown) and one scored anyway (outside intended use).
REFUSED_STYLE = ("background:#f8d7da; color:#842029; border:1px solid #e4a1a8;"
                 "border-radius:4px; padding:6px; font-weight:bold;")
OUTSIDE_STYLE = ("background:#ffd8a8; color:#6b3000; border:2px solid #f08c00;"
                 "border-radius:4px; padding:6px; font-weight:bold;")
OUTSIDE_MARK = "outside intended use"  # a study scored anyway, in the batch table and the PDF
REFUSED_EXPLANATION = (
    "The input check found that this image is not what the model was made for (a frontal "
    "chest X-ray of a child), so no score or heat map is shown. Only if you are sure it is "
    "one, “Score anyway” shows them, marked as outside what the model was made for.")
#: DICOM tags shown for a study, in order, with their labels.
SHOWN_TAGS = (("Modality", "Modality"), ("BodyPartExamined", "Body part"),
              ("ViewPosition", "View"), ("StudyDate", "Study date"),
              ("Manufacturer", "Manufacturer"))
PATIENT_TAGS = (("PatientName", "Patient"), ("PatientID", "Patient ID"),
                ("PatientBirthDate", "Birth date"), ("PatientSex", "Sex"),
                ("PatientAge", "Age"))
#: Within this distance of the threshold a result is called borderline.
#: Scores within this distance of the threshold, in log-odds, are called uncertain. Log-odds
#: keep the band meaningful when the threshold sits near 0 or 1 (0.98 vs 0.995 is not close).
BORDERLINE_LOGIT = 0.5


def decision_text(probability: float, threshold: float) -> str:
    return "Pneumonia suspected" if probability >= threshold else "No pneumonia suspected"


def refused_text(refusal: Refusal) -> str:
    """The banner of a refused study: 'Not scored — <reason>'."""
    return f"Not scored — {refusal.reason}"


def outside_use_text(prediction: Prediction) -> str:
    """The mark a study scored anyway carries ('' for one that passed the input check)."""
    note = prediction.outside_use_note
    return f"⚠ Scored anyway — {note}" if note else ""


def dicom_date(value: str) -> str:
    """'20240131' -> '2024-01-31'; anything else unchanged."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() \
        else value


def operating_point_text(card: ModelCard | None, threshold: float) -> str:
    """The threshold and what it means, each figure with where it was measured (the clinic's
    own studies first): one line per source, from `performance_statement`."""
    if card is None:
        return ""
    lines = performance_statement(card, threshold).lines
    return "\n".join((f"Threshold {percent(threshold)}. {lines[0]}", *lines[1:]))


def figures_warning_text(card: ModelCard | None) -> str:
    """'' or a warning on where the figures come from (none yet from this clinic)."""
    warning = performance_statement(card).warning if card is not None else ""
    return f"⚠ {warning}" if warning else ""


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def explanation_text(probability: float, threshold: float) -> str:
    """One plain-language line for the result."""
    if probability >= threshold:
        line = ("The model found patterns often seen in pneumonia. Please review the image; "
                "the reading and the decision are yours.")
    else:
        line = ("The model found no strong sign of pneumonia. This does not rule pneumonia "
                "out: weigh it with the clinical picture.")
    if abs(_logit(probability) - _logit(threshold)) < BORDERLINE_LOGIT:
        line += " The score is close to the threshold, so treat it as uncertain."
    return line


class ScoreBar(QWidget):
    """A 0–100 % bar: green below the threshold, red above, a marker at the probability."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("scoreBar")
        self.probability: float | None = None
        self.threshold = 0.5
        self.setMinimumHeight(36)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Model score from 0 to 100 %; the tick is the decision threshold")

    def sizeHint(self) -> QSize:
        return QSize(240, 36)

    def set_values(self, probability: float | None, threshold: float) -> None:
        self.probability, self.threshold = probability, threshold
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        margin, bar_h = 6.0, 10.0
        width = self.width() - 2 * margin
        top = 12.0
        split = margin + width * self.threshold
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(200, 230, 201))
        painter.drawRect(QRectF(margin, top, split - margin, bar_h))
        painter.setBrush(QColor(255, 205, 210))
        painter.drawRect(QRectF(split, top, margin + width - split, bar_h))
        painter.setPen(QPen(QColor(60, 60, 60), 2, Qt.PenStyle.DashLine))
        painter.drawLine(int(split), int(top - 4), int(split), int(top + bar_h))
        font = painter.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        painter.setPen(QColor(90, 90, 90))
        painter.drawText(QRectF(margin, top + bar_h + 1, width, 12),
                         Qt.AlignmentFlag.AlignLeft, "0 %")
        painter.drawText(QRectF(margin, top + bar_h + 1, width, 12),
                         Qt.AlignmentFlag.AlignRight, "100 %")
        caption = f"threshold {percent(self.threshold)}"
        caption_w = painter.fontMetrics().horizontalAdvance(caption) + 4
        left = min(max(split - caption_w / 2, margin + 30), margin + width - 36 - caption_w)
        painter.drawText(QRectF(left, top + bar_h + 1, caption_w, 12),
                         Qt.AlignmentFlag.AlignHCenter, caption)
        if self.probability is not None:
            x = margin + width * self.probability
            color = PNEUMONIA_COLOR if self.probability >= self.threshold else NORMAL_COLOR
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            painter.setBrush(color)
            painter.drawPolygon(QPolygonF([QPointF(x - 6, 0), QPointF(x + 6, 0),
                                           QPointF(x, top + bar_h)]))
        painter.end()


def heatmap_legend_text(scale: HeatScale | None) -> tuple[str, str, str, str]:
    """(left end, right end, note, tooltip) of the heat-map legend for a model's scale."""
    if scale is None:
        return ("weakest on this film", "strongest on this film",
                "Relative colours (this model has no fixed scale): a weak trace can look red. "
                "Not an outline of disease.",
                "Relative colours: red = this film's strongest evidence, however weak")
    return ("none", "strong",
            "Same scale on every film: red = evidence as strong as on films flagged at the "
            "training hospital. Not an outline of disease.",
            f"Fixed scale: red = {scale.red:.1f} (class activation in logit units, "
            f"{scale.source}); areas with no evidence for pneumonia stay uncoloured")


def heatmap_rule_text(prediction: Prediction) -> str:
    """Why a scored film shows no heat map ('' when it shows one)."""
    if prediction.heatmap_shown or prediction.heat_scale is None:
        return ""
    return (f"No heat map: no region raised the score (below "
            f"{percent(prediction.heat_scale.show_from)}).")


class ResultPanel(QWidget):
    """Study details, probability, decision at the threshold, explanation and heat-map controls."""

    opacityChanged = Signal(float)
    scoreAnywayRequested = Signal()
    relativeHeatmapRequested = Signal(bool)  # the per-film view instead of the fixed scale

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("resultPanel")
        self.setMinimumWidth(280)
        self.setMaximumWidth(420)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)

        self.banner = QLabel(BANNER_TEXT)
        self.banner.setObjectName("disclaimerBanner")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background:#fff3cd; color:#664d03; font-weight:bold;"
                                  "border:1px solid #e0c060; border-radius:4px; padding:6px;")
        self.banner.setToolTip("The result supports, and never replaces, a clinician's reading")
        layout.addWidget(self.banner)

        study = QGroupBox("Study")
        study_layout = QVBoxLayout(study)
        self.study_label = self._label("studyLabel", "No image open")
        self.study_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tags_label = self._label("dicomTags", "")
        self.tags_label.setTextFormat(Qt.TextFormat.RichText)
        study_layout.addWidget(self.study_label)
        study_layout.addWidget(self.tags_label)
        layout.addWidget(study)

        result = QGroupBox("Result")
        result_layout = QVBoxLayout(result)
        self.refusal_banner = self._label("refusalBanner", "")
        self.refusal_banner.setStyleSheet(REFUSED_STYLE)
        self.refusal_banner.setToolTip("The input check refused this study: it is not a "
                                       "frontal chest radiograph of a child")
        self.outside_banner = self._label("outsideUseBanner", "")
        self.outside_banner.setStyleSheet(OUTSIDE_STYLE)
        self.outside_banner.setToolTip("You chose “Score anyway” for a study the input check "
                                       "refused: the score may be meaningless")
        self.score_anyway_button = QPushButton("Score anyway")
        self.score_anyway_button.setObjectName("scoreAnywayButton")
        self.score_anyway_button.setToolTip(
            "Show the withheld score and heat map, marked as outside what the model was made "
            "for (also in the batch table and its exports)")
        self.score_anyway_button.clicked.connect(self.scoreAnywayRequested)
        for widget in (self.refusal_banner, self.score_anyway_button, self.outside_banner):
            result_layout.addWidget(widget)
        self.probability_caption = self._label("probabilityCaption", "Probability of pneumonia")
        self.probability_caption.setStyleSheet("color:#555;")
        self.probability_label = QLabel("—")
        self.probability_label.setObjectName("probabilityLabel")
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 2.0)
        big.setBold(True)
        self.probability_label.setFont(big)
        self.probability_label.setToolTip("The model's estimated probability of pneumonia")
        self.decision_label = self._label("decisionLabel", "")
        decision_font = QFont(self.font())
        decision_font.setBold(True)
        decision_font.setPointSizeF(decision_font.pointSizeF() * 1.2)
        self.decision_label.setFont(decision_font)
        headline = QHBoxLayout()
        headline.addWidget(self.probability_label)
        headline.addSpacing(8)
        headline.addWidget(self.decision_label, 1)
        self.score_bar = ScoreBar()
        self.operating_label = self._label("operatingPointLabel", "")
        self.figures_warning = self._label("figuresWarning", "")
        self.figures_warning.setStyleSheet(WARNING_STYLE)
        self.figures_warning.setToolTip(
            "The figures hold where they were measured: at another hospital the model may "
            "flag more normal X-rays")
        self.figures_warning.hide()
        self.explanation_label = self._label("explanationLabel", "")
        self.threshold_warning = self._label("thresholdWarning", "")
        self.threshold_warning.setStyleSheet(WARNING_STYLE)
        self.threshold_warning.hide()
        result_layout.addWidget(self.probability_caption)
        result_layout.addLayout(headline)
        for widget in (self.score_bar, self.explanation_label, self.operating_label,
                       self.figures_warning, self.threshold_warning):
            result_layout.addWidget(widget)
        layout.addWidget(result)

        heat = QGroupBox("Heat map")
        heat_layout = QVBoxLayout(heat)
        self.heatmap_toggle = QCheckBox("Show heat map (H)")
        self.heatmap_toggle.setObjectName("heatmapToggle")
        self.heatmap_toggle.setToolTip("Show or hide the heat map over the X-ray (H)")
        self.heatmap_toggle.setChecked(True)
        heat_layout.addWidget(self.heatmap_toggle)
        row = QHBoxLayout()
        self.opacity_caption = QLabel("Opacity")
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setObjectName("opacitySlider")
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("Heat-map opacity ([ and ] change it)")
        self.opacity_slider.valueChanged.connect(self._opacity_moved)
        row.addWidget(self.opacity_caption)
        row.addWidget(self.opacity_slider, 1)
        heat_layout.addLayout(row)
        legend = QLabel()
        legend.setObjectName("heatmapLegend")
        legend.setPixmap(QPixmap.fromImage(legend_qimage(256, 1).scaled(240, 12)))
        legend.setScaledContents(True)
        legend.setFixedHeight(12)
        self.heatmap_legend = legend
        heat_layout.addWidget(legend)
        ends = QHBoxLayout()
        self.legend_low = QLabel()
        self.legend_high = QLabel()
        ends.addWidget(self.legend_low)
        ends.addStretch(1)
        ends.addWidget(self.legend_high)
        heat_layout.addLayout(ends)
        self.heatmap_note = self._label("heatmapNote", "")
        self.heatmap_note.setStyleSheet("color:#555;")
        heat_layout.addWidget(self.heatmap_note)
        self.heatmap_rule = self._label("heatmapRule", "")
        self.heatmap_rule.hide()
        heat_layout.addWidget(self.heatmap_rule)
        self.relative_toggle = QCheckBox("Show relative map")
        self.relative_toggle.setObjectName("relativeHeatmapToggle")
        self.relative_toggle.setToolTip("Per-film view: this film's own strongest area in "
                                        "red, however weak; not the model's scale")
        self.relative_toggle.toggled.connect(self.relativeHeatmapRequested)
        heat_layout.addWidget(self.relative_toggle)
        layout.addWidget(heat)

        self.model_label = self._label("modelLabel", "Model: loading…")
        self.model_label.setStyleSheet("color:#555;")
        layout.addWidget(self.model_label)
        layout.addStretch(1)

        self._card: ModelCard | None = None
        self._threshold = 0.5
        self._prediction: Prediction | None = None
        self.set_opacity(0.5)
        self.clear()

    @staticmethod
    def _label(name: str, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName(name)
        label.setWordWrap(True)
        return label

    # -- heat-map controls -----------------------------------------------------------------
    def set_opacity(self, opacity: float) -> None:
        self.opacity_slider.setValue(round(opacity * 100))
        self.opacity_caption.setText(f"Opacity {self.opacity_slider.value()} %")

    def _opacity_moved(self, value: int) -> None:
        self.opacity_caption.setText(f"Opacity {value} %")
        self.opacityChanged.emit(value / 100.0)

    # -- model -----------------------------------------------------------------------------
    def set_model(self, card: ModelCard | None, threshold: float, description: str = "") -> None:
        """The active model's card and the threshold in use (which may override the card's)."""
        self._card = card
        self._threshold = threshold
        self._describe_heatmap(HeatScale.from_card(card.heatmap) if card else None)
        if card is None:
            self.model_label.setText(description or "No model loaded")
        else:
            suffix = f" · {description}" if description else ""
            self.model_label.setText(f"Model: {card.name} ({card.architecture}, "
                                     f"{card.input_size} px){suffix}")
        caption, caption_tip = probability_caption(card)
        self.probability_caption.setText(caption)
        self.probability_caption.setToolTip(caption_tip)
        source = performance_statement(card).source if card is not None else ""
        self.operating_label.setToolTip(
            "Sensitivity: share of pneumonia X-rays the model flags. Specificity: share of "
            "normal X-rays it does not flag." + (f" Figures from {source}." if source else ""))
        self._update_threshold_warning()
        self._show()

    def set_threshold(self, threshold: float) -> None:
        self._threshold = threshold
        self._update_threshold_warning()
        self._show()

    def _update_threshold_warning(self) -> None:
        card = self._card
        if card is not None and abs(self._threshold - card.threshold) > 1e-9:
            self.threshold_warning.setText(
                f"⚠ Threshold changed to {percent(self._threshold)} (the model's is "
                f"{percent(card.threshold)}). Decisions differ from the validated ones.")
            self.threshold_warning.show()
        else:
            self.threshold_warning.hide()

    # -- study -----------------------------------------------------------------------------
    def clear(self) -> None:
        self._prediction = None
        self.study_label.setText("No image open")
        self.tags_label.setText("")
        self.tags_label.hide()
        self._set_result("—", "", "", "Open an X-ray to see the model's result.")

    def show_study(self, path: Path, image_format: str, shape: tuple[int, int],
                   metadata: dict[str, str]) -> None:
        """Name, format, size and (DICOM) key tags of the opened study."""
        self._prediction = None
        h, w = shape
        self.study_label.setText(f"<b>{html.escape(Path(path).name)}</b><br>"
                                 f"{image_format}, {w} × {h} pixels")
        self.study_label.setToolTip(str(path))
        rows = [(label, dicom_date(metadata[tag]) if tag.endswith("Date") else metadata[tag])
                for tag, label in SHOWN_TAGS + PATIENT_TAGS if metadata.get(tag)]
        if rows:
            self.tags_label.setText("<table>" + "".join(
                f"<tr><td style='color:#555;padding-right:8px'>{html.escape(label)}</td>"
                f"<td>{html.escape(value)}</td></tr>" for label, value in rows) + "</table>")
            self.tags_label.show()
        else:
            self.tags_label.hide()

    def show_waiting(self, message: str) -> None:
        self._prediction = None
        self._set_result("…", "", "", message)

    def show_error(self, message: str) -> None:
        self._prediction = None
        self._set_result("Not scored", "", "", message, error=True)

    def show_refused(self, refusal: Refusal) -> None:
        """A study the input check refused: its reason and “Score anyway”, no score."""
        self._prediction = None
        self._set_result("Not scored", "", "", REFUSED_EXPLANATION, error=True)
        self.refusal_banner.setText(refused_text(refusal))
        self.refusal_banner.show()
        self.score_anyway_button.show()

    def show_prediction(self, prediction: Prediction) -> None:
        """Show a score; one with a refusal (scored anyway) is marked outside intended use."""
        self._prediction = prediction
        self._show()

    def _show(self) -> None:
        prediction = self._prediction
        if prediction is None:
            return
        probability, threshold = prediction.probability, self._threshold
        self._set_result(percent(probability),
                         decision_text(probability, threshold),
                         operating_point_text(self._card, threshold),
                         explanation_text(probability, threshold), probability=probability)
        outside = outside_use_text(prediction)
        self.outside_banner.setText(outside)
        self.outside_banner.setVisible(bool(outside))
        rule = heatmap_rule_text(prediction)
        self.heatmap_rule.setText(rule)
        self.heatmap_rule.setVisible(bool(rule))
        self.relative_toggle.setVisible(prediction.heat_scale is not None)

    def _describe_heatmap(self, scale: HeatScale | None) -> None:
        """Legend words for the active model's scale: fixed (the same on every film) or, for
        a bundle without one, relative to each film's peak."""
        low, high, note, tip = heatmap_legend_text(scale)
        self.legend_low.setText(low)
        self.legend_high.setText(high)
        self.heatmap_note.setText(note)
        self.heatmap_legend.setToolTip(tip)

    def _set_result(self, headline: str, decision: str, operating: str, explanation: str,
                    probability: float | None = None, error: bool = False) -> None:
        self.heatmap_rule.hide()
        self.relative_toggle.blockSignals(True)
        self.relative_toggle.setChecked(False)
        self.relative_toggle.blockSignals(False)
        self.relative_toggle.hide()
        self.refusal_banner.hide()
        self.outside_banner.hide()
        self.score_anyway_button.hide()
        self.probability_label.setText(headline)
        self.probability_caption.setVisible(probability is not None)
        self.score_bar.set_values(probability, self._threshold)
        self.score_bar.setVisible(probability is not None)
        self.decision_label.setText(decision)
        self.decision_label.setVisible(bool(decision))
        if probability is not None:
            color = PNEUMONIA_COLOR if probability >= self._threshold else NORMAL_COLOR
            self.decision_label.setStyleSheet(f"color:{color.name()};")
        self.operating_label.setText(operating)
        self.operating_label.setVisible(bool(operating))
        warning = figures_warning_text(self._card) if operating else ""
        self.figures_warning.setText(warning)
        self.figures_warning.setVisible(bool(warning))
        self.explanation_label.setText(explanation)
        self.explanation_label.setStyleSheet(f"color:{ERROR_COLOR.darker(150).name()};"
                                             if error else "")
