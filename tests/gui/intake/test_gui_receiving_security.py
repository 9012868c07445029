"""The app's side of issue 21: the receiving settings say which addresses the receiver listens
on (this computer only unless the user chooses all) and carry the allow-list, TLS files and
retention into the receiver; the audit log's hash chain is checked as it opens and the status
bar says what was found."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from conftest import write_dicom
from pydicom.uid import generate_uid
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel

from pneumo_desktop.gui.intake.intake_dock import ReceivingDialog, receiving_config
from pneumo_desktop.gui.settings import AppSettings
from pneumo_desktop.gui.window.main_window import MainWindow
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.tls import client_context
from tests.dicom_sender import send
from tests.intake.pki import make_pki


def _settings(tmp_path: Path) -> AppSettings:
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def test_the_dialog_says_where_it_listens_and_saves_the_security_settings(qtbot, tmp_path):
    settings = _settings(tmp_path)
    assert receiving_config(settings).host == "127.0.0.1"  # the default: this computer only
    dialog = ReceivingDialog(settings)
    qtbot.addWidget(dialog)
    box = dialog.security
    assert "127.0.0.1 only" in box.listening_label.text()
    box.listen_combo.setCurrentIndex(box.listen_combo.findData(""))
    assert box.listening_label.text().startswith("Listens on every address of this computer")
    box.addresses_edit.setText("10.0.0.5, 10.0.1.0/24 fd00::/8")
    for kind in ("cert", "key", "ca"):
        box.tls_edits[kind].setText(f"/etc/pneumo/{kind}.pem")
    box.retention_spin.setValue(30)
    dialog.save()
    config = receiving_config(settings)
    assert config.host == "" and config.allowed_addresses == ["10.0.0.5", "10.0.1.0/24",
                                                              "fd00::/8"]
    assert (config.tls_cert, config.tls_key, config.tls_ca) == (
        Path("/etc/pneumo/cert.pem"), Path("/etc/pneumo/key.pem"), Path("/etc/pneumo/ca.pem"))
    assert config.retention_days == 30
    settings.retention_days = 0
    assert receiving_config(settings).retention_days is None  # keep


def _open(qtbot, tmp_path, bundle, settings: AppSettings) -> MainWindow:
    w = MainWindow(model_path=bundle, settings=settings.store, model_dirs=[])
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: bool(w.audit_verification), timeout=30000)
    return w


def test_tls_receiving_in_the_app_and_the_audit_check_at_open(qtbot, tmp_path, tiny_bundle,
                                                              monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("PNEUMO_DATA_DIR", str(data))
    pki = make_pki(tmp_path / "pki")
    settings = _settings(tmp_path)
    for kind, name in (("cert", "receiver.pem"), ("key", "receiver.key"), ("ca", "ca.pem")):
        settings.set_receive_tls_file(kind, str(pki / name))
    w = _open(qtbot, tmp_path, tiny_bundle, settings)
    try:
        assert w.audit_verification == "Audit log verified: 0 events, hash chain intact"
        label = w.statusBar().findChild(QLabel, "auditStatus")
        assert label.text() == "Audit log verified ✓" and label.isVisible()
        assert label.toolTip() == w.audit_verification
        settings.receive_port = 0
        dock = w.ensure_intake()
        with qtbot.waitSignal(dock.runningChanged, timeout=10000):
            assert dock.start()
        assert "over TLS (this computer only)" in dock.status_label.text()
        film = write_dicom(tmp_path / "film.dcm", synthetic_chest(128, seed=1),
                           SOPClassUID=DigitalXRayImageStorageForPresentation, Modality="DX",
                           StudyInstanceUID=generate_uid())
        tls = client_context(pki / "ca.pem", pki / "modality.pem", pki / "modality.key")
        assert send(dock.receiver.port, [film], tls_args=(tls, "localhost")) == [0]
        qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=30000)
        dock.stop()
    finally:
        w.shutdown()

    path = data / "audit.sqlite"
    backup = tmp_path / "intact.sqlite"
    shutil.copy(path, backup)
    db = sqlite3.connect(path)
    db.executescript("DROP TRIGGER events_no_update; UPDATE events SET source = 'x' "
                     "WHERE event = 'received'")
    db.close()
    with AuditLog(path) as log:
        bad = log.events("received")[0]["id"]
    w = _open(qtbot, tmp_path, tiny_bundle, settings)
    try:
        assert w.audit_verification.startswith(f"Audit log check failed: event {bad}:")
        label = w.statusBar().findChild(QLabel, "auditStatus")
        assert label.text() == w.audit_verification and label.isVisible()
        assert w.audit is not None  # still opened: the worklist and overrides go on
    finally:
        w.shutdown()
