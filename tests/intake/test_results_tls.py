"""Results to a PACS over TLS (issue 21): the destination's CA must have signed the PACS's
certificate; a plain association to a TLS-only peer gets nothing through. The peer here is the
app's own TLS receiver (it stores Secondary Captures), with certificates made by openssl."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from conftest import write_dicom
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.receiver import StorageReceiver
from pneumo_desktop.intake.results.dicom_client import Destination, echo, store
from pneumo_desktop.intake.tls import server_context
from tests.intake.pki import make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_peer(tmp_path, pki):
    got = []
    context = server_context(pki / "receiver.pem", pki / "receiver.key", pki / "ca.pem")
    receiver = StorageReceiver(tmp_path / "out", got.append, port=0, host="127.0.0.1",
                               ssl_context=context)
    receiver.start()
    yield receiver, got
    receiver.stop()


def _sc(folder: Path) -> pydicom.Dataset:
    path = write_dicom(folder / "sc.dcm", synthetic_chest(128, seed=1),
                       SOPClassUID=SecondaryCaptureImageStorage, Modality="OT",
                       StudyInstanceUID=generate_uid())
    return pydicom.dcmread(path)


def test_results_reach_a_tls_pacs_with_the_ca_and_our_certificate(tmp_path, pki, tls_peer):
    receiver, got = tls_peer
    pacs = Destination("PNEUMO", "localhost", receiver.port).with_tls(
        str(pki / "ca.pem"), str(pki / "modality.pem"), str(pki / "modality.key"))
    assert pacs.tls_args() is not None and Destination.parse(str(pacs)).tls_ca == ""
    assert echo(pacs) == ""
    [result] = store(pacs, [_sc(tmp_path)])
    assert result.ok, result.detail
    assert len(got) == 1


def test_plain_dicom_to_a_tls_peer_gets_nothing_through(tmp_path, tls_peer):
    receiver, got = tls_peer
    plain = Destination("PNEUMO", "localhost", receiver.port)
    assert echo(plain) != ""
    [result] = store(plain, [_sc(tmp_path)])
    assert not result.ok and got == []


def test_half_a_client_certificate_is_refused(pki):
    with pytest.raises(PneumoError, match="both"):
        Destination("PACS", "localhost", 104).with_tls(str(pki / "ca.pem"),
                                                      str(pki / "modality.pem"))
