"""The Monitoring page: the figures of `monitoring.report` in words and in three plots (studies
per day, calibration per probability band, the window's score and typicality against the
reference), the alerts with their action, and the buttons that act on them."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from pneumo_desktop.monitoring.report import MonitorReport

MIN_PLOTTED = 5  # reads a calibration band needs to be plotted (all are in the report)
ALERT_STYLE = ("background:#fdecea; color:#611a15; border:1px solid #f5c2bd; "
               "border-radius:4px; padding:6px;")
CLEAR_STYLE = ("background:#edf7ed; color:#1e4620; border:1px solid #c3e6c3; "
               "border-radius:4px; padding:6px;")


def _ci(ci) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""


def summary_html(report: MonitorReport) -> str:
    """The figures in words (rich text)."""
    lines = [f"<b>{report.studies}</b> studies"
             + (f" since {report.since}" if report.since else "")
             + f", <b>{report.scored}</b> scored"
             + (f", <b>{report.flagged_rate * 100:.1f} %</b> flagged"
                if report.flagged_rate is not None else "")]
    if report.refused:
        total = sum(report.refused.values())
        lines.append(f"Not scored: {total} ("
                     + ", ".join(f"{n} {r}" for r, n in report.refused.items()) + ")")
    a = report.agreement
    if a["n"]:
        exp = a["expected"]
        parts = []
        for name in ("sensitivity", "specificity"):
            value = a[name]
            shown = "–" if value is None else f"{value:.2f} {_ci(a[f'{name}_ci95'])}"
            card = "" if exp.get(name) is None else (
                f" (card {_ci(exp.get(f'{name}_ci95')) or f'{exp[name]:.2f}'})")
            parts.append(f"{name} <b>{shown}</b>{card}")
        lines.append(f"Agreement with your readers on <b>{a['n']}</b> reads "
                     f"({a['n_pneumonia']} pneumonia, {a['n_normal']} normal): "
                     + "; ".join(parts))
        c = report.calibration
        if c["ece"] is not None:
            lines.append(f"Calibration error {c['ece']:.3f}" + (
                f" (card {c['expected_ece']:.3f})" if c["expected_ece"] is not None else ""))
        if exp.get("source"):
            lines.append(f"<i>Card figures: {exp['source']}</i>")
    else:
        lines.append("No scored study has a read yet: mark studies reviewed in the worklist "
                     "or import reads from your RIS.")
    d = report.drift
    if d["value"] is None:
        lines.append(f"Input drift: not measured ({d['reason']})")
    else:
        lines.append(f"Input drift over the last {d['n']} studies: PSI <b>{d['value']:.2f}</b>"
                     f" (alert level {d['alert_level']:.2f}; "
                     + ", ".join(f"{k} {v['psi']:.2f}" for k, v in d["by_variable"].items())
                     + ")")
    return "<br>".join(lines)


def alerts_html(report: MonitorReport) -> str:
    if not report.alerts:
        return "No alert: the figures are within what the model's card promises."
    return "<br>".join(f"<b>{a.kind.capitalize()}</b>: {a.message}.<br>"
                       f"&nbsp;&nbsp;→ <i>{a.action}</i>" for a in report.alerts)


class MonitoringPage(QWidget):
    """The page; `show_report` fills it. Its buttons are public for the dock to connect."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("monitoringPage")
        self.report: MonitorReport | None = None
        self.summary = QLabel("Reading the audit log…")
        self.summary.setObjectName("monitoringSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.alerts = QLabel()
        self.alerts.setObjectName("monitoringAlerts")
        self.alerts.setWordWrap(True)
        self.alerts.setTextFormat(Qt.TextFormat.RichText)
        self.refresh_button = QPushButton("Refresh")
        self.import_button = QPushButton("Import reads…")
        self.import_button.setToolTip("Add your readers' reads from a RIS or reading-list CSV "
                                      "(columns study, read)")
        self.recalibrate_button = QPushButton("Recalibrate on my reads…")
        self.recalibrate_button.setObjectName("recalibrateButton")
        self.recalibrate_button.setToolTip("Recalibrate the active model on the studies your "
                                           "readers read, and compare before and after")
        buttons = QHBoxLayout()
        for button in (self.refresh_button, self.import_button, self.recalibrate_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        # the plots are made when the page is first shown: importing matplotlib and building
        # its canvas would hold the GUI thread for a fifth of a second at every start
        self.figure = None
        self.canvas = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.alerts)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        self._body_layout = layout
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def show_report(self, report: MonitorReport) -> None:
        self.report = report
        self.summary.setText(summary_html(report))
        self.alerts.setText(alerts_html(report))
        self.alerts.setStyleSheet(ALERT_STYLE if report.alerts else CLEAR_STYLE)
        self.recalibrate_button.setEnabled(report.agreement["n"] > 0)
        if self.isVisible():
            self.plot(report)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.report is not None:
            self.plot(self.report)

    def _ensure_canvas(self) -> None:
        """Matplotlib's figure and Qt canvas, made once, when first needed."""
        if self.canvas is not None:
            return
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(10, 3.0), dpi=100)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(240)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._body_layout.addWidget(self.canvas, 1)

    def show_error(self, message: str) -> None:
        self.summary.setText(f"The figures could not be read: {message}")

    # -- plots ------------------------------------------------------------------------------
    def plot(self, report: MonitorReport) -> None:
        self._ensure_canvas()
        self.figure.clear()
        volume, calibration, drift = self.figure.subplots(1, 3)
        self._plot_volume(volume, report)
        self._plot_calibration(calibration, report)
        self._plot_drift(drift, report)
        for axes in (volume, calibration, drift):
            axes.tick_params(labelsize=7)
            for side in ("top", "right"):
                axes.spines[side].set_visible(False)
        self.figure.tight_layout(pad=0.8)
        self.canvas.draw_idle()

    @staticmethod
    def _plot_volume(axes, report: MonitorReport) -> None:
        days = list(report.per_day)[-30:]
        axes.bar(range(len(days)), [report.per_day[d] for d in days], color="#4c78a8")
        axes.set_xticks(range(len(days)), [d[5:] for d in days], rotation=60)
        axes.set_title("Studies per day", fontsize=9)

    @staticmethod
    def _plot_calibration(axes, report: MonitorReport) -> None:
        bands = [b for b in report.calibration["bands"] if b["n"] >= MIN_PLOTTED]
        axes.plot([0, 1], [0, 1], color="#bbbbbb", linewidth=1, label="calibrated")
        if bands:
            x = [b["mean_probability"] for b in bands]
            y = [b["observed"] for b in bands]
            low = [b["observed"] - b["observed_ci95"][0] for b in bands]
            high = [b["observed_ci95"][1] - b["observed"] for b in bands]
            axes.errorbar(x, y, yerr=[low, high], fmt="o", color="#e45756", markersize=4,
                          capsize=2, label=f"your reads (95 %; bands of {MIN_PLOTTED}+)")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_xlabel("shown probability", fontsize=8)
        axes.set_ylabel("read pneumonia", fontsize=8)
        axes.set_title("Calibration on your reads", fontsize=9)
        axes.legend(fontsize=7, loc="upper left", frameon=False)

    @staticmethod
    def _plot_drift(axes, report: MonitorReport) -> None:
        figures = report.drift.get("by_variable") or {}
        axes.set_title("Recent studies per reference quintile", fontsize=9)
        if not figures:
            axes.text(0.5, 0.5, report.drift.get("reason") or "no drift figures",
                      ha="center", va="center", fontsize=7, wrap=True,
                      transform=axes.transAxes)
            return
        width = 0.8 / len(figures)
        colours = {"score": "#4c78a8", "typicality": "#f58518"}
        for i, (name, f) in enumerate(figures.items()):
            x = np.arange(len(f["observed"])) + i * width
            axes.bar(x, f["observed"], width, color=colours.get(name, "#888888"),
                     label=f"{name} (PSI {f['psi']:.2f})")
            axes.step(np.r_[x - width / 2, x[-1] + width / 2], np.r_[f["expected"],
                                                                     f["expected"][-1]],
                      where="post", color="#333333", linewidth=0.8)
        axes.set_xlabel("reference quintile bin (line: expected)", fontsize=8)
        axes.set_ylabel("share of the window", fontsize=8)
        axes.legend(fontsize=7, frameon=False)
