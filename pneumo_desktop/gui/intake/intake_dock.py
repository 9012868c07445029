"""Studies that arrive by themselves: the worklist dock, the DICOM receiver and watched folder
(started and stopped here, settings kept in AppSettings), and announcements of flagged studies
in the status bar and the system tray, never in a modal dialog."""

from __future__ import annotations

import threading
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
    QGroupBox,
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
from pneumo_desktop.gui.intake.receiver_controller import ReceiverController
from pneumo_desktop.gui.intake.receiving_security import ReceivingSecurityBox, pem_row
from pneumo_desktop.gui.intake.worklist import WorklistModel, WorklistWidget
from pneumo_desktop.gui.settings import AppSettings
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.pipeline import Arrival, Outcome, predictor_scorer
from pneumo_desktop.intake.receiving import ReceivingConfig, default_receive_dir
from pneumo_desktop.intake.results.dicom_client import Destination

WORKLIST_ROWS = 2000  # the most recent studies loaded from the log at start


def results_destination(settings: AppSettings) -> Destination | None:
    """The PACS for the result objects, if one is set (and well written); over TLS when a CA
    is set for it."""
    try:
        pacs = Destination.parse(settings.results_destination)
        ca = settings.results_tls_file("ca")
        return pacs.with_tls(ca, settings.results_tls_file("cert"),
                             settings.results_tls_file("key")) if ca else pacs
    except PneumoError:
        return None


def receiving_config(settings: AppSettings, out_dir: Path | None = None) -> ReceivingConfig:
    """The receiver's configuration as the user saved it."""
    return ReceivingConfig(out_dir or default_receive_dir(), ae_title=settings.receive_ae_title,
                           port=settings.receive_port, allowed_callers=settings.receive_allowed,
                           watch=[Path(settings.watch_folder)] if settings.watch_folder else [],
                           receive=settings.receive_dicom,
                           send_results_to=results_destination(settings),
                           host=settings.receive_listen_address,
                           allowed_addresses=settings.receive_allowed_addresses,
                           retention_days=settings.retention_days or None,
                           **{f"tls_{kind}": Path(f) for kind in ("cert", "key", "ca")
                              if (f := settings.receive_tls_file(kind))})


class ReceivingDialog(QDialog):
    """AE title, port, allowed callers, watched folder and the PACS that gets the results,
    with a C-ECHO "Test connection" (saved when accepted)."""

    _echoed = Signal(str)  # the connection test's answer, from its thread

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
        boxes = QHBoxLayout()  # side by side: stacked, they did not fit a 768-pixel screen
        pacs_box = self._pacs_box(settings)
        pacs_box.setMinimumWidth(460)  # room for the certificate paths
        boxes.addWidget(pacs_box, 1)
        boxes.addWidget(self.security, 1)
        layout.addLayout(boxes)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _pacs_box(self, settings: AppSettings) -> QGroupBox:
        box = QGroupBox("Send results to the PACS")
        box.setObjectName("pacsBox")
        box.setCheckable(True)
        pacs = results_destination(settings)
        box.setChecked(pacs is not None)
        outer = QVBoxLayout(box)  # a wrapped label gets its full height here, not in a form row
        note = QLabel("Per received radiograph: a structured report (SR) with the score, or why "
                      "it was not scored, and for a scored one a picture with the heat map, in "
                      "the radiograph's study. Results wait on disk until the PACS takes them.")
        note.setWordWrap(True)
        outer.addWidget(note)
        form = QFormLayout()
        outer.addLayout(form)
        self.pacs_ae_edit = QLineEdit(pacs.ae_title if pacs else "")
        self.pacs_ae_edit.setObjectName("pacsAeEdit")
        self.pacs_ae_edit.setMaxLength(16)
        self.pacs_ae_edit.setPlaceholderText("the PACS's AE title")
        form.addRow("PACS AE title:", self.pacs_ae_edit)
        self.pacs_host_edit = QLineEdit(pacs.host if pacs else "")
        self.pacs_host_edit.setObjectName("pacsHostEdit")
        self.pacs_host_edit.setPlaceholderText("host name or address")
        form.addRow("Host:", self.pacs_host_edit)
        self.pacs_port_spin = QSpinBox()
        self.pacs_port_spin.setObjectName("pacsPortSpin")
        self.pacs_port_spin.setRange(1, 65535)
        self.pacs_port_spin.setValue(pacs.port if pacs else 104)
        form.addRow("Port:", self.pacs_port_spin)
        self.pacs_tls_edits: dict[str, QLineEdit] = {}
        for kind, label, hint in (
                ("ca", "TLS CA (PEM):", "empty: plain DICOM; else the CA that signed the PACS"),
                ("cert", "Our certificate:", "only if the PACS asks for one (PEM)"),
                ("key", "Its key:", "the certificate's private key (PEM)")):
            edit = QLineEdit(settings.results_tls_file(kind))
            edit.setObjectName(f"pacsTls{kind.capitalize()}Edit")
            edit.setPlaceholderText(hint)
            self.pacs_tls_edits[kind] = edit
            form.addRow(label, pem_row(self, edit, label))
        row = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("pacsTest")
        self.test_button.setToolTip("DICOM C-ECHO, calling as this receiver's AE title")
        self.test_button.clicked.connect(self.test_connection)
        self.test_label = QLabel("")
        self.test_label.setObjectName("pacsTestResult")
        self.test_label.setWordWrap(True)
        row.addWidget(self.test_button)
        row.addWidget(self.test_label, 1)
        form.addRow(row)
        self.pacs_box = box
        self._echoed.connect(self._show_echo, Qt.ConnectionType.QueuedConnection)
        return box

    def destination(self) -> Destination | None:
        """The PACS as typed (None when unticked); raises PneumoError when not valid."""
        if not self.pacs_box.isChecked():
            return None
        pacs = Destination.parse(f"{self.pacs_ae_edit.text().strip()}@"
                                 f"{self.pacs_host_edit.text().strip()}:"
                                 f"{self.pacs_port_spin.value()}")
        ca, cert, key = (self.pacs_tls_edits[k].text().strip() for k in ("ca", "cert", "key"))
        return pacs.with_tls(ca, cert, key) if ca else pacs

    def test_connection(self) -> None:
        """C-ECHO the PACS on a thread; the answer shows beside the button."""
        from pneumo_desktop.intake.results.dicom_client import echo

        try:
            pacs = self.destination()
        except PneumoError as exc:
            self.test_label.setText(str(exc))
            return
        if pacs is None:
            self.test_label.setText("Tick 'Send results to the PACS' first")
            return
        calling = self.ae_edit.text().strip() or self.settings.receive_ae_title
        self.test_button.setEnabled(False)
        self.test_label.setText(f"Calling {pacs}…")
        def call() -> None:
            try:
                answer = echo(pacs, calling) or f"{pacs} answered: connection works"
            except PneumoError as exc:  # e.g. a TLS file that cannot be used
                answer = str(exc)
            self._echoed.emit(answer)

        threading.Thread(target=call, daemon=True).start()

    def _show_echo(self, text: str) -> None:
        self.test_label.setText(text)
        self.test_button.setEnabled(True)

    def accept(self) -> None:
        try:
            self.destination()
        except PneumoError as exc:
            QMessageBox.warning(self, "Send results to the PACS", str(exc))
            return
        super().accept()

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
        pacs = self.destination()
        s.results_destination = str(pacs) if pacs else ""
        for kind, edit in self.pacs_tls_edits.items():
            s.set_results_tls_file(kind, edit.text().strip() if pacs else "")
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
        self.receiver.resultChanged.connect(self.model.set_result)
        self.receiver.resultChanged.connect(self._result_changed)
        self._predictor = None
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
        self.resend_button = QPushButton("Send failed results again")
        self.resend_button.setObjectName("resendResults")
        self.resend_button.setToolTip("Result objects the PACS refused wait here; send them "
                                      "again (e.g. after the PACS administrator fixed it)")
        self.resend_button.clicked.connect(self.resend_failed)
        self.resend_button.setVisible(False)
        bar.addWidget(self.resend_button)
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

    def set_predictor(self, predictor, heatmaps: bool | None = None) -> None:
        """Score arrivals with `predictor` (a model switch); None: arrivals wait for one.
        Heat maps come with the scores when results go to a PACS (or `heatmaps` says so)."""
        self._predictor = predictor
        if heatmaps is None:
            heatmaps = results_destination(self.settings) is not None
        self.receiver.set_scorer(predictor_scorer(predictor, heatmaps=heatmaps)
                                 if predictor is not None else None)

    def start(self, config: ReceivingConfig | None = None) -> bool:
        """Start the receiver and watched folder (the saved settings unless `config`)."""
        config = config or receiving_config(self.settings, self.out_dir)
        if self._predictor is not None:
            self.set_predictor(self._predictor, config.send_results_to is not None)
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

    def resend_failed(self) -> None:
        count = self.receiver.retry_failed()
        self.announced.emit(f"{count} result objects will be sent to the PACS again")
        self.resend_button.setVisible(False)

    def _result_changed(self, item) -> None:
        if item.state == "failed":
            self.resend_button.setVisible(True)
            self.announced.emit(f"The PACS did not take a result ({item.detail}); it is kept: "
                                "Send failed results again")

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
