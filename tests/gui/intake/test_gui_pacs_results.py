"""Results for the PACS in the app: the destination in File → Receiving studies… with its
"Test connection" (C-ECHO to a real Orthanc), and the worklist's PACS column (waiting, sent,
failed), live from the receiver and restored from the audit log."""

from __future__ import annotations

import numpy as np
import pydicom
from conftest import write_dicom
from pydicom.uid import DigitalXRayImageStorageForPresentation, generate_uid
from PySide6.QtCore import QSettings

from pneumo_desktop.gui.intake.intake_dock import ReceivingDialog, receiving_config
from pneumo_desktop.gui.intake.receiver_controller import ReceiverController
from pneumo_desktop.gui.intake.worklist import PACS, WorklistModel
from pneumo_desktop.gui.settings import AppSettings
from pneumo_desktop.imaging.image_io import load_xray
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.pipeline import Outcome
from pneumo_desktop.model.scoring import CSV_COLUMNS
from tests.dciodvfy import our_errors
from tests.dicom_sender import send
from tests.orthanc import Orthanc

HOST = "127.0.0.1"


def _settings(tmp_path) -> AppSettings:
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def test_the_pacs_is_set_and_tested_in_the_receiving_dialog(qtbot, tmp_path):
    pacs = Orthanc(tmp_path / "pacs")
    settings = _settings(tmp_path)
    dialog = ReceivingDialog(settings)
    qtbot.addWidget(dialog)
    assert not dialog.pacs_box.isChecked()
    dialog.pacs_box.setChecked(True)
    ae, host, port = pacs.destination.replace("@", ":").split(":")
    dialog.pacs_ae_edit.setText(ae)
    dialog.pacs_host_edit.setText(host)
    dialog.pacs_port_spin.setValue(int(port))
    dialog.test_connection()  # the PACS is down
    qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=30000)
    assert "did not answer" in dialog.test_label.text()
    pacs.start()
    try:
        dialog.test_connection()
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=30000)
        assert "connection works" in dialog.test_label.text()
    finally:
        pacs.stop()
    dialog.save()
    assert settings.results_destination == pacs.destination
    assert str(receiving_config(settings, tmp_path).send_results_to) == pacs.destination
    dialog.pacs_host_edit.setText("")
    dialog.test_connection()
    assert "not a DICOM destination" in dialog.test_label.text()


def _scorer(paths):
    outcomes = []
    for path in paths:
        row = dict.fromkeys(CSV_COLUMNS, "")
        row.update(path=str(path), threshold="0.500000", model="fake", probability="0.800000",
                   prediction="PNEUMONIA", input_check="passed")
        outcomes.append(Outcome(row, "sha256:fake", image=load_xray(path).pixels,
                                heatmap=np.ones((4, 4), np.float32)))
    return outcomes


def test_the_worklist_shows_where_the_results_are(qtbot, tmp_path):
    pacs = Orthanc(tmp_path / "pacs")
    audit = AuditLog(tmp_path / "audit.sqlite")
    model = WorklistModel(audit)
    controller = ReceiverController(audit, scorer=_scorer)
    controller.arrived.connect(model.add_arrival)
    controller.scored.connect(model.set_outcome)
    controller.resultChanged.connect(model.set_result)
    settings = _settings(tmp_path)
    settings.results_destination = pacs.destination
    config = receiving_config(settings, tmp_path / "received")
    config.port, config.host, config.retry_base_s, config.retry_max_s = 0, HOST, 0.2, 0.5
    controller.start(config)
    try:
        film = write_dicom(tmp_path / "film.dcm", synthetic_chest(160, seed=1),
                           SOPClassUID=DigitalXRayImageStorageForPresentation, Modality="DX",
                           StudyInstanceUID=generate_uid(), SeriesInstanceUID=generate_uid(),
                           PatientID="P1")
        assert send(controller.port, [pydicom.dcmread(film)]) == [0]
        qtbot.waitUntil(lambda: model.rowCount() == 1 and model.row(0).pacs_state == "waiting",
                        timeout=30000)
        assert model.data(model.index(0, PACS)) == "waiting"
        pacs.start()
        qtbot.waitUntil(lambda: model.row(0).pacs_state == "sent", timeout=30000)
        arrived = pacs.find(PatientID="P1")
        assert len(arrived) == 2
        for instance in arrived:  # what arrived: an SR and an SC, valid
            stored = tmp_path / f"{instance['ID']}.dcm"
            stored.write_bytes(pacs.file(instance["ID"]))
            assert our_errors(stored, film) == []
        assert sorted(i["MainDicomTags"].get("Modality", "") for i in
                      pacs.get("/series?expand")) == ["OT", "SR"]
    finally:
        controller.stop()
        pacs.stop()
    restored = WorklistModel(audit)
    restored.load()
    assert restored.data(restored.index(0, PACS)) == "sent"
    audit.close()


def test_the_pacs_over_tls_in_the_receiving_dialog(qtbot, tmp_path):
    """A CA set for the PACS: Test connection goes over TLS (here to the app's own TLS
    receiver, certificates made by openssl), the saved destination keeps it, a plain peer or a
    missing file says why."""
    from pneumo_desktop.intake.receiver import StorageReceiver
    from pneumo_desktop.intake.tls import server_context
    from tests.intake.pki import make_pki

    pki = make_pki(tmp_path / "pki")
    context = server_context(pki / "receiver.pem", pki / "receiver.key", pki / "ca.pem")
    peer = StorageReceiver(tmp_path / "peer", lambda arrival: None, port=0, host=HOST,
                           ssl_context=context)
    peer.start()
    try:
        settings = _settings(tmp_path)
        dialog = ReceivingDialog(settings)
        qtbot.addWidget(dialog)
        dialog.pacs_box.setChecked(True)
        dialog.pacs_ae_edit.setText("PNEUMO")
        dialog.pacs_host_edit.setText("localhost")
        dialog.pacs_port_spin.setValue(peer.port)
        dialog.test_connection()  # plain DICOM to a TLS-only peer
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=30000)
        assert "connection works" not in dialog.test_label.text()
        for kind, name in (("ca", "ca.pem"), ("cert", "modality.pem"), ("key", "modality.key")):
            dialog.pacs_tls_edits[kind].setText(str(pki / name))
        dialog.test_connection()
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=30000)
        assert "connection works" in dialog.test_label.text()
        dialog.save()
        sent_to = receiving_config(settings, tmp_path).send_results_to
        assert sent_to.tls_ca == str(pki / "ca.pem") and sent_to.port == peer.port
        dialog.pacs_tls_edits["ca"].setText(str(tmp_path / "missing.pem"))
        dialog.test_connection()
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=30000)
        assert "missing.pem" in dialog.test_label.text()
    finally:
        peer.stop()
