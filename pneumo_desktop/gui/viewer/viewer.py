"""The X-ray viewer: zoom at the cursor, pan, fit / 1:1, window/level, invert, heat-map layer."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QMouseEvent,
    QPainter,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QWidget,
)

from pneumo_desktop.gui.imaging import apply_lut, display_lut, gray_to_qimage, rgba_to_qimage

FULL_WINDOW, MID_LEVEL = 256.0, 128.0
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
WHEEL_STEP = 1.2


class XRayViewer(QGraphicsView):
    """A QGraphicsView showing one grayscale radiograph with an optional heat-map layer.

    The heat-map item covers exactly the image's scene rectangle (stretched from its own
    resolution), is stacked above it, and is transformed with it, so the two stay aligned at
    every zoom. Left-drag pans, the wheel zooms around the cursor, right-drag sets
    window (horizontal) and level (vertical). A banner (`set_banner`) stays across the top of
    the view, whatever the zoom.
    """

    zoomChanged = Signal(float)  # screen pixels per image pixel
    windowLevelChanged = Signal(float, float)  # window width, level, on the 0..255 display scale

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("viewer")
        self.setScene(QGraphicsScene(self))
        self._image_item = QGraphicsPixmapItem()
        self._image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._heat_item = QGraphicsPixmapItem()
        self._heat_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._heat_item.setZValue(1.0)
        self._heat_item.setVisible(False)
        self.scene().addItem(self._image_item)
        self.scene().addItem(self._heat_item)

        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor(18, 18, 18))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)  # right button: W/L
        self.setAcceptDrops(False)  # drops go to the main window
        self.viewport().setAcceptDrops(False)
        self.setMinimumSize(320, 240)
        self.setToolTip("Wheel: zoom around the cursor · drag: pan · right-drag: "
                        "window (left/right) and level (up/down)")

        self._pixels: np.ndarray | None = None
        self._window, self._level, self._inverted = FULL_WINDOW, MID_LEVEL, False
        self._fit = True
        self._heat_wanted = True
        self._wl_anchor: tuple[QPointF, float, float] | None = None

        self.banner = QLabel(self)  # a child of the view, not of the scrolled viewport
        self.banner.setObjectName("viewerBanner")
        self.banner.setWordWrap(True)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.banner.hide()

    # -- image and heat map --------------------------------------------------------------
    @property
    def has_image(self) -> bool:
        return self._pixels is not None

    def set_image(self, pixels: np.ndarray) -> None:
        """Show a uint8 (h, w) image, fitted to the window; window/level are reset."""
        self._pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        self._window, self._level = FULL_WINDOW, MID_LEVEL
        self._render()
        h, w = self._pixels.shape
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        self.set_heatmap(None)
        self.fit_to_window()
        self.windowLevelChanged.emit(self._window, self._level)

    def clear(self) -> None:
        self._pixels = None
        self._image_item.setPixmap(QPixmap())
        self.set_heatmap(None)
        self.set_banner("")
        self.viewport().update()

    def set_banner(self, text: str, style: str = "") -> None:
        """Show `text` across the top of the view with a style sheet ('' removes it)."""
        self.banner.setText(text)
        self.banner.setStyleSheet(style)
        self.banner.setVisible(bool(text))
        self._place_banner()

    @property
    def banner_text(self) -> str:
        return self.banner.text() if not self.banner.isHidden() else ""

    def _place_banner(self) -> None:
        area = self.viewport().geometry()
        width = max(area.width() - 16, 50)
        self.banner.setGeometry(area.left() + 8, area.top() + 8, width,
                                self.banner.heightForWidth(width))
        self.banner.raise_()

    def set_heatmap(self, rgba: np.ndarray | None) -> None:
        """Put an RGBA heat-map layer (any resolution) exactly over the image, or remove it."""
        if rgba is None or self._pixels is None:
            self._heat_item.setPixmap(QPixmap())
            self._heat_item.setVisible(False)
            return
        pixmap = QPixmap.fromImage(rgba_to_qimage(rgba))
        h, w = self._pixels.shape
        self._heat_item.setPixmap(pixmap)
        self._heat_item.setTransform(QTransform.fromScale(w / pixmap.width(),
                                                          h / pixmap.height()))
        self._heat_item.setVisible(self._heat_wanted)

    @property
    def has_heatmap(self) -> bool:
        return not self._heat_item.pixmap().isNull()

    @property
    def heatmap_visible(self) -> bool:
        return self._heat_item.isVisible()

    def set_heatmap_visible(self, visible: bool) -> None:
        self._heat_wanted = bool(visible)
        self._heat_item.setVisible(self._heat_wanted and self.has_heatmap)

    @property
    def heatmap_opacity(self) -> float:
        return self._heat_item.opacity()

    def set_heatmap_opacity(self, opacity: float) -> None:
        self._heat_item.setOpacity(min(1.0, max(0.0, float(opacity))))

    def image_scene_rect(self) -> QRectF:
        return self._image_item.sceneBoundingRect()

    def heatmap_scene_rect(self) -> QRectF:
        return self._heat_item.sceneBoundingRect()

    # -- grey scale ------------------------------------------------------------------------
    @property
    def window_level(self) -> tuple[float, float]:
        return self._window, self._level

    def set_window_level(self, window: float, level: float) -> None:
        self._window = float(min(2 * FULL_WINDOW, max(1.0, window)))
        self._level = float(min(255.0, max(0.0, level)))
        self._render()
        self.windowLevelChanged.emit(self._window, self._level)

    def reset_window_level(self) -> None:
        self.set_window_level(FULL_WINDOW, MID_LEVEL)

    @property
    def inverted(self) -> bool:
        return self._inverted

    def set_inverted(self, inverted: bool) -> None:
        self._inverted = bool(inverted)
        self._render()

    def _render(self) -> None:
        if self._pixels is None:
            return
        shown = self._pixels
        if (self._window, self._level, self._inverted) != (FULL_WINDOW, MID_LEVEL, False):
            shown = apply_lut(self._pixels, display_lut(self._window, self._level,
                                                        self._inverted))
        self._image_item.setPixmap(QPixmap.fromImage(gray_to_qimage(shown)))

    # -- zoom ------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        """Screen (device-independent) pixels per image pixel."""
        return self.transform().m11()

    @property
    def is_fitted(self) -> bool:
        return self._fit

    def fit_to_window(self) -> None:
        """Show the whole image; stays fitted when the window is resized."""
        self._fit = True
        if self._pixels is not None:
            self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoomChanged.emit(self.zoom)

    def actual_size(self) -> None:
        """1:1 — one image pixel per physical screen pixel (high-DPI aware)."""
        self._fit = False
        ratio = self.devicePixelRatioF() or 1.0
        center = self.mapToScene(self.viewport().rect().center())
        self.setTransform(QTransform.fromScale(1.0 / ratio, 1.0 / ratio))
        self.centerOn(center)
        self.zoomChanged.emit(self.zoom)

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Zoom by `factor`, keeping the scene point under `anchor` (viewport pixels, default
        the centre) in place."""
        if self._pixels is None:
            return
        target = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom * factor))
        factor = target / self.zoom
        if abs(factor - 1.0) < 1e-9:
            return
        self._fit = False
        anchor = anchor if anchor is not None else self.viewport().rect().center()
        before = self.mapToScene(anchor)
        self.scale(factor, factor)
        moved = self.mapFromScene(before) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self.zoomChanged.emit(self.zoom)

    def zoom_in(self) -> None:
        self.zoom_by(WHEEL_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1.0 / WHEEL_STEP)

    # -- events ----------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps and self._pixels is not None:
            self.zoom_by(WHEEL_STEP ** steps, event.position().toPoint())
            event.accept()
        else:
            super().wheelEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton and self._pixels is not None:
            self._wl_anchor = (event.position(), self._window, self._level)
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._wl_anchor is not None and event.buttons() & Qt.MouseButton.RightButton:
            start, window, level = self._wl_anchor
            delta = event.position() - start
            self.set_window_level(window + 2.0 * delta.x(), level + delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton and self._wl_anchor is not None:
            self._wl_anchor = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_banner()
        if self._fit and self._pixels is not None:
            self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)
            self.zoomChanged.emit(self.zoom)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawForeground(painter, rect)
        if self._pixels is not None:
            return
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(170, 170, 170))
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        painter.setFont(font)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter,
                         "Open a chest X-ray (Ctrl+O)\n"
                         "or drop image files or a folder here to score them")
        painter.restore()
