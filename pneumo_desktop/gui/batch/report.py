"""The PDF batch report (Qt's QPdfWriter): a summary, then one page per flagged study.

Studies the input check refused are listed as not scored with the reason; a study scored
anyway (in the viewer) carries the mark "outside intended use" in the table and on its page.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QFile, QIODevice, QMarginsF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
)

from pneumo_desktop import __version__
from pneumo_desktop.atomic import atomic_open
from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.imaging import fit_within, gray_to_qimage, legend_qimage, rgb_to_qimage
from pneumo_desktop.gui.viewer.image_scorer import score_image
from pneumo_desktop.gui.viewer.result_panel import (
    BANNER_TEXT,
    NORMAL_COLOR,
    OUTSIDE_MARK,
    PNEUMONIA_COLOR,
    decision_text,
    explanation_text,
    figures_warning_text,
    operating_point_text,
    percent,
)
from pneumo_desktop.imaging.image_io import load_xray

if TYPE_CHECKING:
    from pneumo_desktop.model.bundle import ModelCard
    from pneumo_desktop.model.inference import Predictor, ScoredFile

RESOLUTION = 150  # dots per inch of the PDF's drawing units
IMAGE_MAX_SIDE = 1100  # pixels of each embedded image
OUTSIDE_COLOR = QColor(160, 70, 0)  # studies scored anyway, outside intended use


@dataclass
class ReportData:
    """Everything the report shows, snapshotted on the GUI thread."""

    items: list[ScoredFile]
    model_name: str
    threshold: float
    card: ModelCard | None = None
    opacity: float = 0.5
    source: str = ""
    created: _dt.datetime = field(default_factory=lambda: _dt.datetime.now().astimezone())

    @property
    def flagged(self) -> list[ScoredFile]:
        """Studies at or above the threshold, highest probability first."""
        hits = [i for i in self.items
                if i.prediction is not None and i.prediction.probability >= self.threshold]
        return sorted(hits, key=lambda i: -i.prediction.probability)

    @property
    def refused(self) -> list[ScoredFile]:
        """Studies the input check refused (not scored)."""
        return [i for i in self.items if i.prediction is None and i.refusal is not None]

    @property
    def unreadable(self) -> list[ScoredFile]:
        return [i for i in self.items if i.prediction is None and i.refusal is None]

    @property
    def outside(self) -> list[ScoredFile]:
        """Studies scored anyway although the input check refused them."""
        return [i for i in self.items if i.prediction is not None and i.prediction.refusal]


class _Page:
    """A cursor down the printable area of the current page, in device units."""

    def __init__(self, writer: QPdfWriter, painter: QPainter, data: ReportData):
        self.writer, self.painter, self.data = writer, painter, data
        self.area = QRectF(0, 0, writer.width(), writer.height())  # inside the margins
        self.number = 1
        self.y = 0.0
        self.body = QFont("DejaVu Sans", 9)
        self.small = QFont("DejaVu Sans", 7)
        self.bold = QFont("DejaVu Sans", 9, QFont.Weight.Bold)
        self.title = QFont("DejaVu Sans", 15, QFont.Weight.Bold)
        self.heading = QFont("DejaVu Sans", 12, QFont.Weight.Bold)
        painter.setFont(self.small)
        self.footer_h = QFontMetricsF(self.small, writer).height() * 2
        self._footer()

    @property
    def bottom(self) -> float:
        return self.area.height() - self.footer_h

    def _footer(self) -> None:
        p = self.painter
        p.setFont(self.small)
        p.setPen(QColor(90, 90, 90))
        rect = QRectF(0, self.area.height() - self.footer_h * 0.8, self.area.width(),
                      self.footer_h * 0.8)
        p.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                   f"{BANNER_TEXT} · Pneumo Desktop {__version__} · model {self.data.model_name}")
        p.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                   f"Page {self.number}")
        p.setPen(QColor(0, 0, 0))

    def new_page(self) -> None:
        self.writer.newPage()
        self.number += 1
        self.y = 0.0
        self._footer()

    def text(self, text: str, font: QFont | None = None, color: QColor | None = None,
             space_after: float = 0.3) -> None:
        """Word-wrapped text across the page width; moves to a new page when needed."""
        font = font or self.body
        metrics = QFontMetricsF(font, self.writer)
        flags = int(Qt.TextFlag.TextWordWrap)
        needed = metrics.boundingRect(QRectF(0, 0, self.area.width(), 1e6), flags, text).height()
        if self.y + needed > self.bottom:
            self.new_page()
        self.painter.setFont(font)
        self.painter.setPen(color or QColor(0, 0, 0))
        self.painter.drawText(QRectF(0, self.y, self.area.width(), needed), flags, text)
        self.painter.setPen(QColor(0, 0, 0))
        self.y += needed + metrics.height() * space_after

    def banner(self) -> None:
        metrics = QFontMetricsF(self.bold, self.writer)
        rect = QRectF(0, self.y, self.area.width(), metrics.height() * 1.8)
        self.painter.fillRect(rect, QColor(255, 243, 205))
        self.painter.setPen(QColor(102, 77, 3))
        self.painter.setFont(self.bold)
        self.painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, BANNER_TEXT)
        self.painter.setPen(QColor(0, 0, 0))
        self.y += rect.height() + metrics.height() * 0.6

    def line_height(self, font: QFont) -> float:
        return QFontMetricsF(font, self.writer).height()


def write_report(path: str | Path, data: ReportData, predictor: Predictor | None, *,
                 progress: Callable[[int, int], None] = lambda done, total: None,
                 cancelled: Callable[[], bool] = lambda: False) -> Path:
    """Write the report to `path` atomically (nothing is left behind on failure or cancel).

    `predictor` (the model that scored the batch) recomputes the heat maps of flagged studies.
    Runs in a worker thread: QPdfWriter and QImage painting are thread-safe.
    """
    path = Path(path)
    flagged = data.flagged
    with atomic_open(path, "wb") as handle:
        device = QFile()
        if not device.open(handle.fileno(), QIODevice.OpenModeFlag.WriteOnly,
                           QFile.FileHandleFlag.DontCloseHandle):
            raise PneumoError(f"Cannot write {path}: {device.errorString()}")
        writer = QPdfWriter(device)
        writer.setResolution(RESOLUTION)
        writer.setTitle("Pneumo Desktop screening report")
        writer.setCreator(f"Pneumo Desktop {__version__}")
        writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                         QPageLayout.Orientation.Portrait,
                                         QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
        painter = QPainter()
        if not painter.begin(writer):
            raise PneumoError(f"Cannot write the PDF {path}")
        try:
            page = _Page(writer, painter, data)
            _summary(page, data, flagged)
            for done, item in enumerate(flagged, start=1):
                if cancelled():
                    raise PneumoError("Report cancelled")
                page.new_page()
                _study_page(page, data, item, predictor)
                progress(done, len(flagged))
        finally:
            painter.end()
        device.close()
    return path


def _summary(page: _Page, data: ReportData, flagged: list[ScoredFile]) -> None:
    scored = [i for i in data.items if i.prediction is not None]
    failed = len(data.items) - len(scored)
    page.text("Chest X-ray pneumonia screening — batch report", page.title)
    page.banner()
    card = data.card
    model = data.model_name
    if card is not None:
        model = f"{card.name} ({card.architecture}, {card.input_size} px input)"
    lines = [f"Created: {data.created:%Y-%m-%d %H:%M %Z}",
             f"Studies from: {data.source or '—'}",
             f"Model: {model}",
             operating_point_text(card, data.threshold) or f"Threshold {percent(data.threshold)}."]
    for line in lines:
        page.text(line, space_after=0.15)
    if figures_warning_text(card):
        page.text(figures_warning_text(card), page.bold, OUTSIDE_COLOR, space_after=0.15)
    page.y += page.line_height(page.body) * 0.5
    refused = len(data.refused)
    counts = (f"{len(data.items)} files: {len(flagged)} pneumonia suspected, "
              f"{len(scored) - len(flagged)} not suspected, ")
    if refused:
        counts += (f"{refused} not scored by the input check (not a frontal chest X-ray of a "
                   f"child), {failed - refused} could not be read. ")
    else:
        counts += f"{failed} could not be scored. "
    page.text(counts + "Each flagged study has its own page with the heat map.", page.bold)
    if data.outside:
        page.text(f"{len(data.outside)} of the scored studies were scored anyway although the "
                  "input check refused them: their results are outside what the model was made "
                  "for (marked ⚠).", page.bold, OUTSIDE_COLOR)
    page.y += page.line_height(page.body) * 0.3
    _table(page, data)
    _reasons(page, data)


def _table(page: _Page, data: ReportData) -> None:
    width = page.area.width()
    columns = (("#", 0.05), ("File", 0.39), ("Probability", 0.12), ("Decision", 0.44))
    row_h = page.line_height(page.body) * 1.35

    def header() -> None:
        x = 0.0
        page.painter.setFont(page.bold)
        page.painter.fillRect(QRectF(0, page.y, width, row_h), QColor(230, 230, 230))
        for title, share in columns:
            page.painter.drawText(QRectF(x + 4, page.y, width * share - 8, row_h),
                                  Qt.AlignmentFlag.AlignVCenter, title)
            x += width * share
        page.y += row_h

    header()
    for number, item in enumerate(data.items, start=1):
        if page.y + row_h > page.bottom:
            page.new_page()
            header()
        pred = item.prediction
        if pred is None:
            why = "input check, see below" if item.refusal is not None else "unreadable"
            cells = (str(number), item.path.name, "—", f"Not scored ({why})")
            color = QColor(110, 110, 110)
        elif pred.refusal is not None:
            cells = (str(number), item.path.name, percent(pred.probability),
                     f"⚠ {decision_text(pred.probability, data.threshold)} ({OUTSIDE_MARK})")
            color = OUTSIDE_COLOR
        else:
            cells = (str(number), item.path.name, percent(pred.probability),
                     decision_text(pred.probability, data.threshold))
            color = PNEUMONIA_COLOR if pred.probability >= data.threshold else NORMAL_COLOR
        x = 0.0
        page.painter.setFont(page.body)
        metrics = QFontMetricsF(page.body, page.writer)
        for i, (cell, (_, share)) in enumerate(zip(cells, columns, strict=True)):
            page.painter.setPen(color if i == 3 else QColor(0, 0, 0))
            text = metrics.elidedText(cell, Qt.TextElideMode.ElideMiddle, width * share - 8)
            page.painter.drawText(QRectF(x + 4, page.y, width * share - 8, row_h),
                                  Qt.AlignmentFlag.AlignVCenter, text)
            x += width * share
        page.painter.setPen(QColor(220, 220, 220))
        page.painter.drawLine(0, int(page.y + row_h), int(width), int(page.y + row_h))
        page.painter.setPen(QColor(0, 0, 0))
        page.y += row_h


def _reasons(page: _Page, data: ReportData) -> None:
    """Below the table, in full: why each study was not scored, and which were scored anyway."""
    numbers = {id(item): n for n, item in enumerate(data.items, start=1)}
    sections = (
        ("Not scored: not a frontal chest X-ray of a child (input check)", data.refused,
         lambda i: i.refusal.reason, QColor(0, 0, 0)),
        ("Not scored: unreadable files", data.unreadable,
         lambda i: (i.error or "not scored").removeprefix(f"{i.path.name}: "), QColor(0, 0, 0)),
        (f"Scored anyway, {OUTSIDE_MARK}", data.outside,
         lambda i: i.prediction.outside_use_note, OUTSIDE_COLOR),
    )
    for title, items, reason, color in sections:
        if not items:
            continue
        page.y += page.line_height(page.body) * 0.6
        page.text(title, page.bold, color, space_after=0.2)
        for item in items:
            page.text(f"#{numbers[id(item)]} {item.path.name} — {reason(item)}",
                      space_after=0.1)


def _study_page(page: _Page, data: ReportData, item: ScoredFile,
                predictor: Predictor | None) -> None:
    pred = item.prediction
    page.text(item.path.name, page.heading, space_after=0.1)
    page.text(str(item.path), page.small, QColor(90, 90, 90))
    page.banner()
    if pred.refusal is not None:
        page.text(f"⚠ Scored anyway, {OUTSIDE_MARK}: the input check refused this study "
                  f"({pred.refusal.reason}). The score and heat map may be meaningless.",
                  page.bold, OUTSIDE_COLOR)
    page.text(f"Probability of pneumonia: {percent(pred.probability)} — "
              f"{decision_text(pred.probability, data.threshold)}", page.heading,
              PNEUMONIA_COLOR)
    page.text(explanation_text(pred.probability, data.threshold))
    page.text(operating_point_text(data.card, data.threshold), page.small, QColor(70, 70, 70))
    if figures_warning_text(data.card):
        page.text(figures_warning_text(data.card), page.small, OUTSIDE_COLOR)
    try:
        image = load_xray(item.path)
        gray = fit_within(image.pixels, IMAGE_MAX_SIDE)
        heat_rgb = None
        if predictor is not None:
            from pneumo_desktop.model.scoring import heatmap_image  # scoring loads inference

            # `overlay` stretches the full-resolution map onto the shrunken film
            heat_rgb = heatmap_image(gray, score_image(predictor, item.path, image),
                                     max(0.2, data.opacity))
    except PneumoError as exc:
        page.text(f"The image can no longer be read: {exc}", page.bold, QColor(120, 0, 0))
        return
    gap = page.area.width() * 0.03
    box_w = (page.area.width() - gap) / 2
    box_h = min(page.bottom - page.y - page.line_height(page.body) * 5, box_w * 1.25)
    panels = [("X-ray", gray_to_qimage(gray))]
    if heat_rgb is not None:
        panels.append(("With heat map", rgb_to_qimage(heat_rgb)))
    top = page.y
    drawn = max(_draw_image(page, qimage, QRectF(i * (box_w + gap), top, box_w, box_h), caption)
                for i, (caption, qimage) in enumerate(panels))
    page.y = top + drawn + page.line_height(page.small) * 2.5
    if heat_rgb is not None:
        legend = QRectF(page.area.width() / 2 + gap / 2, page.y, box_w,
                        page.line_height(page.small))
        page.painter.drawImage(legend, legend_qimage(256, 1))
        page.y += legend.height() * 1.2
        page.painter.setFont(page.small)
        page.painter.drawText(QRectF(legend.left(), page.y, box_w, legend.height()),
                              Qt.AlignmentFlag.AlignLeft, "little influence")
        page.painter.drawText(QRectF(legend.left(), page.y, box_w, legend.height()),
                              Qt.AlignmentFlag.AlignRight, "strong influence")
        page.y += legend.height() * 1.5
        page.text("Colours show the areas that most raised the model's score; they are not "
                  "an outline of disease.", page.small, QColor(70, 70, 70))


def _draw_image(page: _Page, image: QImage, box: QRectF, caption: str) -> float:
    """Draw `image` centred in `box`, aspect kept, with a caption underneath; its height."""
    scale = min(box.width() / image.width(), box.height() / image.height())
    w, h = image.width() * scale, image.height() * scale
    target = QRectF(box.left() + (box.width() - w) / 2, box.top(), w, h)
    page.painter.fillRect(QRectF(box.left(), box.top(), box.width(), h), QColor(0, 0, 0))
    page.painter.drawImage(target, image)
    page.painter.setFont(page.small)
    page.painter.drawText(QRectF(box.left(), box.top() + h + 4, box.width(),
                                 page.line_height(page.small) * 1.4),
                          Qt.AlignmentFlag.AlignHCenter, caption)
    return h
