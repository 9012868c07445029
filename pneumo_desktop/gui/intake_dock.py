"""Studies that arrive by themselves: the worklist dock, the DICOM receiver and watched folder
(started and stopped here, settings kept in AppSettings), and announcements of flagged studies
in the status bar and the system tray, never in a modal dialog."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.gui.receiver_controller import ReceiverController
from pneumo_desktop.gui.receiving_security import ReceivingSecurityBox
from pneumo_desktop.gui.settings import AppSettings
from pneumo_desktop.gui.worklist import WorklistModel, WorklistWidget
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.pipeline import Arrival, Outcome, predictor_scorer
from pneumo_desktop.intake.receiving import ReceivingConfig, default_receive_dir

WORKLIST_ROWS = 2000  # the most recent studies loaded from the log at start


def receiving_config(settings: AppSettings, out_dir: Path | None = None) -> ReceivingConfig:
    """The receiver's configuration as the user saved it."""
    return ReceivingConfig(out_dir or default_receive_dir(), ae_title=settings.receive_ae_title,
                           port=settings.receive_port, allowed_callers=settings.receive_allowed,
                           watch=[Path(settings.watch_folder)] if settings.watch_folder else [],
                           receive=settings.receive_dicom, host=settings.receive_listen_address,
                           allowed_addresses=settings.receive_allowed_addresses,
                           retention_days=settings.retention_days or None,
                           **{f"tls_{kind}": Path(f) for kind in ("cert", "key", "ca")
                              if (f := settings.receive_tls_file(kind))})


class ReceivingDialog(QDialog):
    """AE title, port, allowed callers and watched folder (saved when accepted)."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("receivingDialog")
        self.setWindowTitle("Receiving studies")
        self.settings = settings
        layout = QVBoxLayout(self)
        intro = QLabel("Point the X-ray machine or PACS at this computer (DICOM C-STORE): "
                       "use the AE title and port below, and allow the port through the "
                       "firewall. Files dropped into the watched folder are scored too.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.dicom_check = QCheckBox("Receive DICOM over the network")
        self.dicom_check.setChecked(settings.receive_dicom)
        form.addRow(self.dicom_check)
        self.ae_edit = QLineEdit(settings.receive_ae_title)
        self.ae_edit.setObjectName("aeTitleEdit")
        self.ae_edit.setMaxLength(16)
        form.addRow("AE title:", self.ae_edit)
        self.port_spin = QSpinBox()
        self.port_spin.setObjectName("portSpin")
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(settings.receive_port)
        form.addRow("Port:", self.port_spin)
        self.allowed_edit = QLineEdit(", ".join(settings.receive_allowed))
        self.allowed_edit.setObjectName("allowedEdit")
        self.allowed_edit.setPlaceholderText("any sender (or AE titles, separated by commas)")
        form.addRow("Accept only from:", self.allowed_edit)
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit(settings.watch_folder)
        self.folder_edit.setObjectName("watchFolderEdit")
        self.folder_edit.setPlaceholderText("none")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        form.addRow("Watched folder:", folder_row)
        form.addRow("Stored in:", QLabel(str(default_receive_dir())))
        layout.addLayout(form)
        self.security = ReceivingSecurityBox(settings)
        layout.addWidget(self.security)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to watch",
                                                  self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def save(self) -> None:
        s = self.settings
        s.receive_dicom = self.dicom_check.isChecked()
        s.receive_ae_title = self.ae_edit.text().strip() or s.receive_ae_title
        s.receive_port = self.port_spin.value()
        s.receive_allowed = [t.strip() for t in self.allowed_edit.text().split(",") if t.strip()]
        s.watch_folder = self.folder_edit.text().strip()
        self.security.save()


class IntakeDock(QDockWidget):
    """The worklist, and the receiver feeding it."""

    openRequested = Signal(str)  # a study to open in the viewer
    announced = Signal(str)  # a message for the status bar
    runningChanged = Signal(bool)

    def __init__(self, settings: AppSettings, audit: AuditLog, parent: QWidget | None = None,
                 out_dir: Path | None = None):
        super().__init__("Worklist", parent)
        self.setObjectName("worklistDock")
        self.settings = settings
        self.audit = audit
        self.out_dir = out_dir
        self.model = WorklistModel(audit, self)
        self.model.load(limit=WORKLIST_ROWS)
        self.worklist = WorklistWidget(self.model)
        self.worklist.openRequested.connect(self.openRequested)
        self.receiver = ReceiverController(audit, parent=self)
        self.receiver.arrived.connect(self.model.add_arrival)
        self.receiver.scored.connect(self.model.set_outcome)
        self.receiver.flagged.connect(self._announce_flagged)
        self.receiver.runningChanged.connect(self._running_changed)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        self.status_label = QLabel()
        self.status_label.setObjectName("receiverStatus")
        bar.addWidget(self.status_label, 1)
        self.start_button = QPushButton("Start receiving")
        self.start_button.setObjectName("receiverStartStop")
        self.start_button.clicked.connect(self.toggle)
        bar.addWidget(self.start_button)
        settings_button = QPushButton("Settings…")
        settings_button.setObjectName("receiverSettings")
        settings_button.clicked.connect(self.edit_settings)
        bar.addWidget(settings_button)
        reads_button = QPushButton("Reads as training folder…")
        reads_button.setObjectName("exportReads")
        reads_button.setToolTip("Copy the studies you read as pneumonia or normal into a new "
                                "labelled folder (NORMAL/, PNEUMONIA/) for Train on clinic "
                                "images or pneumo-desktop calibrate")
        reads_button.clicked.connect(self.export_reads)
        bar.addWidget(reads_button)
        export_button = QPushButton("Export audit log…")
        export_button.setObjectName("exportAuditLog")
        export_button.clicked.connect(self.export_audit_log)
        bar.addWidget(export_button)
        layout.addLayout(bar)
        layout.addWidget(self.worklist, 1)
        self.setWidget(body)
        self.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea
                             | Qt.DockWidgetArea.RightDockWidgetArea)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(QApplication.windowIcon(), self)
            self.tray.setToolTip("Pneumo Desktop")
        self._running_changed(False)

    # -- receiver ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.receiver.running

    def set_predictor(self, predictor) -> None:
        """Score arrivals with `predictor` (a model switch); None: arrivals wait for one."""
        self.receiver.set_scorer(predictor_scorer(predictor) if predictor is not None else None)

    def start(self, config: ReceivingConfig | None = None) -> bool:
        """Start the receiver and watched folder (the saved settings unless `config`)."""
        config = config or receiving_config(self.settings, self.out_dir)
        try:
            self.receiver.start(config)
        except (OSError, PneumoError) as exc:
            self.announced.emit(f"Receiver not started: {exc}")
            QMessageBox.warning(self, "Receiving studies", f"The receiver could not start: "
                                f"{exc}\n\nCheck the port (Settings…): another program may "
                                f"use it.")
            return False
        self.settings.receiving_enabled = True
        return True

    def stop(self) -> None:
        self.receiver.stop()
        self.settings.receiving_enabled = False

    def toggle(self) -> None:
        self.stop() if self.running else self.start()

    def edit_settings(self) -> None:
        dialog = ReceivingDialog(self.settings, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            dialog.save()
            if self.running:  # apply at once
                self.start()

    def _running_changed(self, running: bool) -> None:
        s = self.settings
        if running:
            parts = []
            if s.receive_dicom and self.receiver.port:
                local = s.receive_listen_address == "127.0.0.1"
                parts.append(f"DICOM as {s.receive_ae_title} on port {self.receiver.port}"
                             f"{' over TLS' if s.receive_tls_file('cert') else ''}"
                             f"{' (this computer only)' if local else ''}")
            if s.watch_folder:
                parts.append(f"watching {Path(s.watch_folder).name}")
            self.status_label.setText("Receiving: " + (", ".join(parts) or "on"))
        else:
            self.status_label.setText("Receiver off: studies arrive only when you open or "
                                      "drop them")
        self.start_button.setText("Stop receiving" if running else "Start receiving")
        self.runningChanged.emit(running)

    def _announce_flagged(self, arrival: Arrival, outcome: Outcome) -> None:
        who = arrival.patient_id or arrival.path.name
        text = (f"New study flagged: pneumonia suspected ({who}, "
                f"{outcome.probability:.0%}) — see the worklist")
        self.announced.emit(text)
        if self.tray is not None:
            self.tray.show()
            self.tray.showMessage("Pneumo Desktop", text, QSystemTrayIcon.MessageIcon.Warning,
                                  8000)

    def export_audit_log(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the audit log",
                                              str(Path.home() / "pneumo-audit-log.csv"),
                                              "CSV (*.csv)")
        if path:
            try:
                self.audit.export_csv(path)
            except (OSError, PneumoError) as exc:
                self.announced.emit(f"The audit log could not be exported: {exc}")
            else:
                self.announced.emit(f"Audit log exported to {path}")

    def export_reads(self, folder: str | None = None) -> None:
        """The reviewers' reads as a labelled folder (see `intake.reads_export`)."""
        from pneumo_desktop.intake.reads_export import export_reads

        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "New empty folder for the labelled "
                                                            "studies", str(Path.home()))
        if not folder:
            return
        try:
            result = export_reads(self.audit, folder)
        except (OSError, PneumoError) as exc:
            self.announced.emit(f"The reads could not be exported: {exc}")
        else:
            self.announced.emit(f"Wrote {result.summary()}")

    def shutdown(self) -> None:
        """Stop receiving (finishing the study in flight); the setting stays as it was, so the
        receiver starts again at the next launch if it was on."""
        self.receiver.stop()
        if self.tray is not None:
            self.tray.hide()
