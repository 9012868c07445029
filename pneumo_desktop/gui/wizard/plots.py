"""Matplotlib plots for the training wizard: live training curves and the ROC curve.

Keeping the GUI thread responsive while TensorFlow trains in another thread (sharing the GIL
and the CPU) shapes this module:

* data artists are *animated*: a new point is shown by blitting them over a cached background
  (a few milliseconds), not by redrawing the figure;
* full redraws (first show, resize, axis limits that must grow) go through one scheduler that
  draws at most one canvas per event-loop turn, `FULL_DRAW_GAP_MS` apart;
* live curves refresh at most every 250 ms each, however fast the batches come.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#d95f02"
ACTIVE_COLOR = "#7f7f7f"
REFRESH_MS = 125  # live curves: one canvas per tick, so each at most every 250 ms
FULL_DRAW_GAP_MS = 40  # event-loop time left free between two full redraws


class _DrawScheduler(QObject):
    """Performs requested full redraws one canvas at a time, spaced out."""

    def __init__(self):
        super().__init__()
        self._queue: list[weakref.ref[Canvas]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._run)

    def request(self, canvas: Canvas) -> None:
        if all(ref() is not canvas for ref in self._queue):
            self._queue.append(weakref.ref(canvas))
        if not self._timer.isActive():  # not at once: let the event loop turn first
            self._timer.start(FULL_DRAW_GAP_MS)

    def _run(self) -> None:
        while self._queue:
            canvas = self._queue.pop(0)()
            try:
                if canvas is not None and canvas.full_draw_now():
                    break
            except RuntimeError:  # the widget was deleted meanwhile
                continue
        if self._queue:
            self._timer.start(FULL_DRAW_GAP_MS)


_scheduler: _DrawScheduler | None = None


def _draw_scheduler() -> _DrawScheduler:
    global _scheduler
    if _scheduler is None:
        _scheduler = _DrawScheduler()
    return _scheduler


class Canvas(FigureCanvasQTAgg):
    """One axes with margins fixed in pixels; `dynamic` artists are blitted.

    `draw_idle()` (also called by matplotlib on resize) schedules a full redraw through the
    shared scheduler; `update_dynamic()` shows changed dynamic artists at once by blitting.
    """

    margins = (58, 12, 8, 40)  # left, right, top, bottom in pixels

    def __init__(self, parent: QWidget | None = None, *, height: float = 3.0):
        figure = Figure(figsize=(4.6, height), dpi=100)
        figure.patch.set_facecolor("white")
        super().__init__(figure)
        self.setParent(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)
        self.axes = figure.add_subplot()
        self.axes.grid(True, color="#e3e3e3", linewidth=0.6)
        self.axes.tick_params(labelsize=8)
        for side in ("top", "right"):
            self.axes.spines[side].set_visible(False)
        self.dynamic: list[Artist] = []
        self.draw_count = 0
        self.blit_count = 0
        self._background = None
        self._needs_draw = True
        self.mpl_connect("draw_event", self._on_draw)
        self._place_axes()

    @property
    def needs_draw(self) -> bool:
        return self._needs_draw

    def add_dynamic(self, artist: Artist) -> Artist:
        artist.set_animated(True)
        self.dynamic.append(artist)
        return artist

    def _place_axes(self) -> None:
        width, height = max(self.width(), 1), max(self.height(), 1)
        left, right, top, bottom = self.margins
        if width > left + right + 20 and height > top + bottom + 20:
            self.figure.subplots_adjust(left=left / width, right=1 - right / width,
                                        top=1 - top / height, bottom=bottom / height)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self._background = None
        super().resizeEvent(event)  # sets the figure size, then calls draw_idle()
        self._place_axes()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._needs_draw:
            self.draw_idle()

    def draw_idle(self) -> None:
        """Schedule a full redraw (one canvas at a time across the application)."""
        self._needs_draw = True
        _draw_scheduler().request(self)

    def full_draw_now(self) -> bool:
        """Redraw everything now if visible; False when nothing was drawn."""
        if not self._needs_draw or not self.isVisible() or self.width() < 2:
            return False
        self._place_axes()
        self.draw()
        return True

    def draw(self) -> None:
        self._needs_draw = False
        self.draw_count += 1
        super().draw()

    def _on_draw(self, _event) -> None:
        self._background = self.copy_from_bbox(self.figure.bbox)
        self._draw_dynamic()

    def _draw_dynamic(self) -> None:
        for artist in self.dynamic:
            if artist.get_visible():
                self.axes.draw_artist(artist)

    def _buffer_matches(self) -> bool:
        renderer = getattr(self, "renderer", None)
        bbox = self.figure.bbox
        return renderer is not None and (renderer.width, renderer.height) == (
            int(bbox.width), int(bbox.height))

    def update_dynamic(self) -> None:
        """Show the dynamic artists' new data: blit when the background is valid."""
        if self._background is None or self._needs_draw or not self._buffer_matches():
            self.draw_idle()
            return
        self.restore_region(self._background)
        self._draw_dynamic()
        self.blit_count += 1
        self.blit(self.figure.bbox)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if not self._buffer_matches():  # resized, full redraw pending: show a blank canvas
            painter = QPainter(self)
            painter.fillRect(event.rect(), self.palette().base())
            painter.end()
            return
        super().paintEvent(event)


def titled(title: str, canvas: Canvas) -> QWidget:
    """A canvas under a Qt label (text in Qt costs nothing at redraw time)."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    label = QLabel(title)
    label.setWordWrap(True)
    layout.addWidget(label)
    layout.addWidget(canvas, 1)
    return box


class CurvePlot(Canvas):
    """One metric against epochs: training (each batch, as Keras' running mean within the
    epoch, and each epoch's value) and validation (each epoch); ★ marks the best epoch."""

    def __init__(self, ylabel: str, *, bounded: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.bounded = bounded  # AUC: always 0..1
        ax = self.axes
        ax.set_xlabel("Epoch", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(6, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(5))
        if bounded:
            ax.axhline(0.5, color="#999999", linestyle=":", linewidth=1)
        self.batch_line = self.add_dynamic(
            ax.plot([], [], color=TRAIN_COLOR, linewidth=0.9, alpha=0.35)[0])
        self.train_line = self.add_dynamic(
            ax.plot([], [], "o-", color=TRAIN_COLOR, linewidth=1.6, ms=4)[0])
        self.val_line = self.add_dynamic(
            ax.plot([], [], "s-", color=VAL_COLOR, linewidth=2.0, ms=5)[0])
        self.best_mark = self.add_dynamic(
            ax.plot([], [], "*", color=VAL_COLOR, ms=14, mec="black", mew=0.6)[0])
        self.batch_x: list[float] = []
        self.batch_y: list[float] = []
        self.epoch_x: list[float] = []
        self.train_y: list[float] = []
        self.val_y: list[float] = []
        self.best: tuple[float, float] | None = None
        self.dirty = False
        self.reset(1)

    def reset(self, epochs: int) -> None:
        for values in (self.batch_x, self.batch_y, self.epoch_x, self.train_y, self.val_y):
            values.clear()
        self.best = None
        self.axes.set_xlim(0, max(int(epochs), 1) + 0.1)
        # limits that rarely need to grow (AUC: never): every growth costs a full redraw
        self.axes.set_ylim(0.0, 1.02 if self.bounded else 1.0)
        self._set_data()
        self.dirty = False
        self.draw_idle()

    def add_batch(self, x: float, y: float) -> None:
        if math.isfinite(y):
            self.batch_x.append(x)
            self.batch_y.append(y)
            self.dirty = True

    def add_epoch(self, epoch: int, train: float, val: float, best: bool = False) -> None:
        self.epoch_x.append(float(epoch))
        self.train_y.append(train)
        self.val_y.append(val)
        if best and math.isfinite(val):
            self.best = (float(epoch), val)
        self.dirty = True

    def _set_data(self) -> None:
        self.batch_line.set_data(self.batch_x, self.batch_y)
        self.train_line.set_data(self.epoch_x, self.train_y)
        self.val_line.set_data(self.epoch_x, self.val_y)
        self.best_mark.set_data(*([[self.best[0]], [self.best[1]]] if self.best else [[], []]))

    def _limits_grow(self) -> bool:
        """Widen the axes when a point falls outside (rare); True when they changed."""
        values = np.array([*self.batch_y, *self.train_y, *self.val_y], dtype=float)
        values = values[np.isfinite(values)]
        if not len(values):
            return False
        changed = False
        if not self.bounded and values.max() > self.axes.get_ylim()[1]:
            top = float(values.max()) * 1.25
            step = 10 ** math.floor(math.log10(top)) / 2
            self.axes.set_ylim(0.0, math.ceil(top / step) * step)
            changed = True
        right = self.axes.get_xlim()[1]
        if max(self.epoch_x, default=0) > right:
            self.axes.set_xlim(0, max(self.epoch_x) + 0.1)
            changed = True
        return changed

    def refresh(self) -> None:
        """Show the new points: a blit, or a (scheduled) full redraw when the axes grew."""
        self._set_data()
        self.dirty = False
        if self._limits_grow():
            self.draw_idle()
        else:
            self.update_dynamic()


class TrainingPlots(QWidget):
    """Loss and AUC side by side, fed per batch and per epoch, refreshed on a throttle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainingPlots")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.loss = CurvePlot("Loss")
        self.loss.setObjectName("lossPlot")
        self.auc = CurvePlot("AUC", bounded=True)
        self.auc.setObjectName("aucPlot")
        layout.addWidget(titled("<b>Loss</b> — how wrong the model is <i>(lower is better)</i>",
                                self.loss))
        layout.addWidget(titled("<b>AUC</b> — how well it tells pneumonia from normal "
                                "<i>(1.0 perfect, 0.5 chance)</i>", self.auc))
        self._next = 0
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    @property
    def canvases(self) -> tuple[CurvePlot, CurvePlot]:
        return self.loss, self.auc

    @property
    def batch_points(self) -> int:
        return len(self.loss.batch_x)

    @property
    def epoch_points(self) -> int:
        return len(self.loss.epoch_x)

    @property
    def dirty(self) -> bool:
        return any(canvas.dirty for canvas in self.canvases)

    @property
    def drawn(self) -> bool:
        """No full redraw pending (a hidden canvas draws when it is shown)."""
        return not any(c.needs_draw for c in self.canvases)

    def reset(self, epochs: int) -> None:
        for canvas in self.canvases:
            canvas.reset(epochs)

    def add_batch(self, epoch: int, batch: int, batches: int, loss: float, auc: float) -> None:
        x = epoch - 1 + batch / max(batches, 1)
        self.loss.add_batch(x, loss)
        self.auc.add_batch(x, auc)

    def add_epoch(self, epoch: int, loss: float, val_loss: float, auc: float, val_auc: float,
                  improved: bool) -> None:
        self.loss.add_epoch(epoch, loss, val_loss)
        self.auc.add_epoch(epoch, auc, val_auc, best=improved)
        for canvas in self.canvases:  # rare and cheap (a blit): show it with the epoch's text
            canvas.refresh()

    def _tick(self) -> None:
        """Refresh at most one dirty canvas, alternating."""
        for offset in range(2):
            canvas = self.canvases[(self._next + offset) % 2]
            if canvas.dirty:
                canvas.refresh()
                self._next = (self._next + offset + 1) % 2
                return


class RocPlot(Canvas):
    """ROC curves of the new (and the active) model with their operating points; moving the
    chosen point is a blit."""

    margins = (58, 12, 8, 42)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, height=4.0)
        ax = self.axes
        ax.set_xlabel("False alarms: share of NORMAL images flagged (1 − specificity)",
                      fontsize=8)
        ax.set_ylabel("Pneumonia caught (sensitivity)", fontsize=8)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal", adjustable="box")
        ax.plot([0, 1], [0, 1], ":", color="#aaaaaa", linewidth=1, label="Chance")
        (self.active_curve,) = ax.plot([], [], "--", color=ACTIVE_COLOR, linewidth=1.4)
        (self.active_point,) = ax.plot([], [], "D", color=ACTIVE_COLOR, ms=7, mec="black",
                                       mew=0.6)
        (self.curve,) = ax.plot([], [], color=TRAIN_COLOR, linewidth=2)
        (self.suggested_point,) = ax.plot([], [], "o", mfc="none", mec=TRAIN_COLOR, ms=11,
                                          mew=1.6)
        self.point = self.add_dynamic(
            ax.plot([], [], "o", color=VAL_COLOR, ms=10, mec="black", mew=0.8)[0])

    def set_curves(self, fpr: np.ndarray, tpr: np.ndarray, suggested: tuple[float, float],
                   active: tuple[np.ndarray, np.ndarray, str, tuple[float, float]] | None = None
                   ) -> None:
        """The curves and fixed points: (1 − specificity, sensitivity) of the suggested
        threshold and, with `active` (fpr, tpr, label, point), of the active model."""
        self.curve.set_data(fpr, tpr)
        self.curve.set_label("New model")
        self.suggested_point.set_data([suggested[0]], [suggested[1]])
        self.suggested_point.set_label("New model, suggested threshold")
        if active is None:
            for artist in (self.active_curve, self.active_point):
                artist.set_data([], [])
                artist.set_label("_none")
        else:
            self.active_curve.set_data(active[0], active[1])
            self.active_curve.set_label(active[2])
            self.active_point.set_data([active[3][0]], [active[3][1]])
            self.active_point.set_label("Active model, its threshold")
        self.point.set_label("New model, chosen threshold")
        self.axes.legend(handles=[a for a in (self.curve, self.suggested_point, self.point,
                                              self.active_curve, self.active_point)
                                  if not a.get_label().startswith("_")],
                         loc="lower right", fontsize=7.5, framealpha=0.92)
        self.draw_idle()

    def set_point(self, fpr: float, tpr: float) -> None:
        """Move the chosen operating point (blitted: cheap enough for a dragged slider)."""
        self.point.set_data([fpr], [tpr])
        self.update_dynamic()
