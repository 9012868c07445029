"""The security part of the "Receiving studies" settings: which address the receiver listens
on (this computer only by default), which senders' addresses it accepts, DICOM over TLS with
certificates, and how long received images are kept (see docs/security.md)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from pneumo_desktop.gui.settings import AppSettings

LOOPBACK = "127.0.0.1"
TLS_FILES = (("cert", "TLS certificate:"), ("key", "TLS private key:"),
             ("ca", "Accept senders signed by (CA):"))


def listening_text(listen_address: str, addresses: list[str]) -> str:
    """Says which addresses the receiver listens on."""
    if listen_address == LOOPBACK:
        return ("Listens on 127.0.0.1 only: programs on this computer can send, the network "
                "cannot.")
    if listen_address:
        return f"Listens on {listen_address} only."
    shown = ", ".join(addresses) if addresses else "none found besides 127.0.0.1"
    return f"Listens on every address of this computer: {shown} (and 127.0.0.1)."


class ReceivingSecurityBox(QGroupBox):
    """Listen address, address allow-list, TLS files and retention; `save()` stores them."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None):
        super().__init__("Network and retention", parent)
        from pneumo_desktop.intake.connection_guard import local_addresses

        self.settings = settings
        self._addresses = local_addresses()
        form = QFormLayout(self)
        self.listen_combo = QComboBox()
        self.listen_combo.setObjectName("listenCombo")
        self.listen_combo.addItem("This computer only", LOOPBACK)
        self.listen_combo.addItem("All addresses (the X-ray machine or PACS can send)", "")
        current = settings.receive_listen_address
        if self.listen_combo.findData(current) < 0:
            self.listen_combo.addItem(current, current)
        self.listen_combo.setCurrentIndex(self.listen_combo.findData(current))
        form.addRow("Listen on:", self.listen_combo)
        self.listening_label = QLabel()
        self.listening_label.setObjectName("listeningLabel")
        self.listening_label.setWordWrap(True)
        form.addRow(self.listening_label)
        self.listen_combo.currentIndexChanged.connect(self._show_listening)
        self._show_listening()
        self.addresses_edit = QLineEdit(", ".join(settings.receive_allowed_addresses))
        self.addresses_edit.setObjectName("allowedAddressesEdit")
        self.addresses_edit.setPlaceholderText("any address (or e.g. 10.0.0.5, 10.0.1.0/24)")
        form.addRow("Accept connections from:", self.addresses_edit)
        self.tls_edits: dict[str, QLineEdit] = {}
        for kind, label in TLS_FILES:
            edit = QLineEdit(settings.receive_tls_file(kind))
            edit.setObjectName(f"tls_{kind}Edit")
            edit.setPlaceholderText("none (plain DICOM)" if kind == "cert" else "none")
            form.addRow(label, pem_row(self, edit, label))
            self.tls_edits[kind] = edit
        self.retention_spin = QSpinBox()
        self.retention_spin.setObjectName("retentionSpin")
        self.retention_spin.setRange(0, 3650)
        self.retention_spin.setSuffix(" days")
        self.retention_spin.setSpecialValueText("never (keep them)")
        self.retention_spin.setValue(settings.retention_days)
        self.retention_spin.setToolTip("Results and the audit log are kept; images whose "
                                       "results wait to be sent are kept until sent.")
        form.addRow("Delete received images after:", self.retention_spin)

    def _show_listening(self) -> None:
        self.listening_label.setText(listening_text(self.listen_combo.currentData(),
                                                    self._addresses))

    def save(self) -> None:
        s = self.settings
        s.receive_listen_address = self.listen_combo.currentData()
        s.receive_allowed_addresses = [a for a in self.addresses_edit.text().replace(
            ",", " ").split() if a]
        for kind, edit in self.tls_edits.items():
            s.set_receive_tls_file(kind, edit.text().strip())
        s.retention_days = self.retention_spin.value()


def pem_row(parent: QWidget, edit: QLineEdit, title: str) -> QHBoxLayout:
    """`edit` (a PEM file's path) with a "Choose…" button that fills it from a file dialog."""
    def choose() -> None:
        path, _ = QFileDialog.getOpenFileName(parent, title.rstrip(":"), edit.text(),
                                              "PEM files (*.pem *.crt *.key);;All files (*)")
        if path:
            edit.setText(path)

    browse = QPushButton("Choose…")
    browse.clicked.connect(choose)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(browse)
    return row
