"""The model manager: every bundle in models/ and the user's folder, its card, and switching."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStyle,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from pneumo_desktop.errors import BundleError, PneumoError
from pneumo_desktop.evaluation.figures_source import performance_statement
from pneumo_desktop.gui.viewer.result_panel import percent
from pneumo_desktop.model.bundle import (
    ModelBundle,
    ModelCard,
    default_model_dirs,
    list_bundles,
    read_bundle,
    user_models_dir,
)

Entry = tuple[Path, ModelBundle | BundleError]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_value(v)}" for k, v in value.items()
                         if not isinstance(v, list | dict))
    if isinstance(value, list):
        return f"{len(value)} values" if len(value) > 6 else ", ".join(_value(v) for v in value)
    return str(value)


def _rows(data: dict[str, Any], limit: int = 12) -> str:
    shown = [(k, v) for k, v in data.items() if not isinstance(v, list) or len(v) <= 6][:limit]
    return "".join(f"<tr><td style='color:#555;padding-right:10px'>{html.escape(str(k))}</td>"
                   f"<td>{html.escape(_value(v))}</td></tr>" for k, v in shown)


def threshold_rule_text(rule: dict[str, Any]) -> str:
    """{'method': 'target_sensitivity', 'target': 0.95} -> a sentence."""
    if not rule:
        return "how it was chosen is not stated"
    if rule.get("method") == "target_sensitivity" and isinstance(rule.get("target"), int | float):
        return f"chosen to flag {rule['target'] * 100:.0f} % of pneumonia cases in validation"
    if rule.get("method") == "local_calibration" and isinstance(rule.get("target"), int | float):
        return f"chosen on your studies to flag {rule['target'] * 100:.0f} % of pneumonia cases"
    return _value(rule)


def input_check_text(bundle: ModelBundle) -> str:
    """One line on the bundle's learned input check: fitted (with its validation refusal
    rate) or missing."""
    if not bundle.has_learned_check:
        return "learned input check: missing — only DICOM tags and pixels are checked"
    refused = bundle.card.input_check.get("validation_refused")
    rate = (f" (refuses {refused * 100:.1f} % of validation films)"
            if isinstance(refused, int | float) else "")
    return f"learned input check: fitted{rate}"


def card_html(path: Path, card: ModelCard, active: bool) -> str:
    """The model card as HTML for the manager (and the About box)."""
    bundle = ModelBundle(path, card)
    check_style = "" if bundle.has_learned_check else " style='color:#8a4b00'"
    validation = card.validation or {}
    statement = performance_statement(card)
    figures = "<br>".join(html.escape(line) for line in statement.lines)
    warning = (f"<tr><td></td><td style='color:#8a4b00'>⚠ {html.escape(statement.warning)}"
               "</td></tr>" if statement.warning else "")
    details = "<br>".join(html.escape(line) for line in statement.details)
    if details:
        warning += ("<tr><td style='color:#555;padding-right:10px'>Details</td>"
                    f"<td>{details}</td></tr>")
    parts = [f"<h3>{html.escape(card.name)}{' (active)' if active else ''}</h3>",
             "<table>",
             f"<tr><td style='color:#555;padding-right:10px'>Architecture</td>"
             f"<td>{html.escape(card.architecture)}, {card.input_size} × {card.input_size} px"
             "</td></tr>",
             f"<tr><td style='color:#555;padding-right:10px'>Threshold</td>"
             f"<td>{percent(card.threshold)} ({card.threshold:.4f}), "
             f"{html.escape(threshold_rule_text(card.threshold_rule))}</td></tr>",
             f"<tr><td style='color:#555;padding-right:10px'>Figures from</td>"
             f"<td>{html.escape(statement.source)}</td></tr>",
             f"<tr><td style='color:#555;padding-right:10px'>At that threshold</td>"
             f"<td>{figures}</td></tr>{warning}",
             f"<tr><td style='color:#555;padding-right:10px'>Input check</td>"
             f"<td{check_style}>{html.escape(input_check_text(bundle))}</td></tr>",
             f"<tr><td style='color:#555;padding-right:10px'>Made with</td>"
             f"<td>Pneumo Desktop {html.escape(card.app_version or '?')}</td></tr>",
             f"<tr><td style='color:#555;padding-right:10px'>Checksum</td>"
             f"<td>sha256 {html.escape(card.sha256[:16])}… (verified)</td></tr>",
             f"<tr><td style='color:#555;padding-right:10px'>Folder</td>"
             f"<td>{html.escape(str(path))}</td></tr>",
             "</table>"]
    check_info = {k: v for k, v in card.input_check.items() if k not in ("sha256", "file")}
    local = {k: v for k, v in (card.local or {}).items() if k != "active_model"}
    for title, data in (("Your studies", local),
                        (f"Validation ({statement.validation_source})", validation),
                        ("Calibration", card.calibration), ("Training", card.training),
                        ("Learned input check", check_info)):
        if data:
            parts.append(f"<h4>{html.escape(title)}</h4><table>{_rows(data)}</table>")
    return "".join(parts)


class ModelManagerDialog(QDialog):
    """Lists model bundles with their cards; 'Use this model' emits `modelChosen(path)`.

    A bundle that cannot be used is listed with its error and cannot be chosen.
    """

    modelChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, folders: list[Path] | None = None,
                 active: str | Path | None = None):
        super().__init__(parent)
        self.setObjectName("modelManager")
        self.setWindowTitle("Models")
        self.resize(820, 480)
        self.folders = [Path(f) for f in (folders or default_model_dirs())]
        self.active = Path(active) if active else None
        self._extra: list[Path] = [self.active] if self.active else []
        self._entries: list[Entry] = []

        layout = QVBoxLayout(self)
        where = QLabel("Models are read from: " + "; ".join(
            html.escape(str(f)) for f in self.folders))
        where.setWordWrap(True)
        where.setStyleSheet("color:#555;")
        layout.addWidget(where)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.list = QListWidget()
        self.list.setObjectName("modelList")
        self.list.currentRowChanged.connect(self._show_entry)
        self.list.itemDoubleClicked.connect(lambda _item: self.activate())
        self.card_view = QTextBrowser()
        self.card_view.setObjectName("modelCard")
        self.card_view.setOpenLinks(False)
        splitter.addWidget(self.list)
        splitter.addWidget(self.card_view)
        splitter.setSizes([260, 560])
        layout.addWidget(splitter, 1)

        row = QHBoxLayout()
        self.activate_button = QPushButton("Use this model")
        self.activate_button.setObjectName("activateButton")
        self.activate_button.setToolTip("Score with the selected model from now on")
        self.activate_button.clicked.connect(self.activate)
        add_button = QPushButton("Add model folder…")
        add_button.setToolTip("Choose a model folder (with model.keras and model.json) "
                              "stored anywhere")
        add_button.clicked.connect(self._add_folder)
        open_button = QPushButton("Open my models folder")
        open_button.setToolTip(f"Models copied here are listed automatically: "
                               f"{user_models_dir()}")
        open_button.clicked.connect(self._open_user_folder)
        refresh_button = QPushButton("Refresh")
        refresh_button.setToolTip("Read the model folders again (F5)")
        refresh_button.setShortcut("F5")
        refresh_button.clicked.connect(self.refresh)
        for button in (self.activate_button, add_button, open_button, refresh_button):
            row.addWidget(button)
        row.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        row.addWidget(close)
        layout.addLayout(row)
        self.refresh()

    # -- contents --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read every bundle again (checksums included)."""
        entries: list[Entry] = list_bundles(self.folders)
        known = {path.resolve() for path, _ in entries}
        for extra in self._extra:
            if extra.resolve() in known:
                continue
            try:
                entries.append((extra, read_bundle(extra)))
            except BundleError as exc:
                entries.append((extra, exc))
            known.add(extra.resolve())
        self._entries = entries
        self.list.clear()
        warn = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        ok = self.style().standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton)
        current = 0
        for row, (path, entry) in enumerate(entries):
            if isinstance(entry, ModelBundle):
                is_active = self._is_active(path)
                text = f"{entry.name}{'  (active)' if is_active else ''}"
                item = QListWidgetItem(ok if is_active else self.style().standardIcon(
                    QStyle.StandardPixmap.SP_FileIcon), text)
                if is_active:
                    current = row
            else:
                item = QListWidgetItem(warn, f"{path.name} — cannot be used")
                item.setForeground(Qt.GlobalColor.darkRed)
            item.setToolTip(str(path))
            self.list.addItem(item)
        if entries:
            self.list.setCurrentRow(current)
        else:
            self.card_view.setHtml(
                "<p>No models found. Copy a model folder (with <i>model.keras</i> and "
                f"<i>model.json</i>) into <b>{html.escape(str(user_models_dir()))}</b>, or use "
                "<i>Add model folder…</i>.</p>")
            self.activate_button.setEnabled(False)

    def entries(self) -> list[Entry]:
        return list(self._entries)

    def _is_active(self, path: Path) -> bool:
        return self.active is not None and path.resolve() == self.active.resolve()

    def _show_entry(self, row: int) -> None:
        if not 0 <= row < len(self._entries):
            return
        path, entry = self._entries[row]
        if isinstance(entry, ModelBundle):
            self.card_view.setHtml(card_html(path, entry.card, self._is_active(path)))
            self.activate_button.setEnabled(not self._is_active(path))
        else:
            self.card_view.setHtml(
                f"<h3 style='color:#8b0000'>This model cannot be used</h3>"
                f"<p>{html.escape(str(entry))}</p><p style='color:#555'>Folder: "
                f"{html.escape(str(path))}</p><p>Replace the folder with an intact copy of "
                "the model, or remove it.</p>")
            self.activate_button.setEnabled(False)

    # -- actions ---------------------------------------------------------------------------
    def select(self, path: str | Path) -> bool:
        """Select the entry for `path`; False when it is not listed."""
        target = Path(path).resolve()
        for row, (entry_path, _) in enumerate(self._entries):
            if entry_path.resolve() == target:
                self.list.setCurrentRow(row)
                return True
        return False

    def activate(self) -> None:
        row = self.list.currentRow()
        if not 0 <= row < len(self._entries):
            return
        path, entry = self._entries[row]
        if not isinstance(entry, ModelBundle):
            return
        self.active = path
        self.modelChosen.emit(str(path))
        self.refresh()

    def add_folder(self, folder: str | Path) -> str | None:
        """List a bundle stored anywhere; the error message when it is not usable."""
        folder = Path(folder)
        try:
            read_bundle(folder)
        except PneumoError as exc:
            error = str(exc)
        else:
            error = None
        if all(folder.resolve() != p.resolve() for p in self._extra):
            self._extra.append(folder)
        self.refresh()
        self.select(folder)
        return error

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            self.add_folder(folder)

    def _open_user_folder(self) -> None:
        folder = user_models_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
