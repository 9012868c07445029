"""The receiver on a clinic network: DICOM over TLS with certificates made by openssl (a
CA-signed sender stores, a plain association and a certificate of another CA are refused), and
the address allow-list (an unlisted address is refused before a byte of DICOM is read, logged
in the audit log; a listed one stores)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from conftest import write_dicom
from pydicom.uid import generate_uid
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.intake.audit_log import AuditLog
from pneumo_desktop.intake.connection_guard import address_allowed, parse_networks
from pneumo_desktop.intake.receiver import SUCCESS, StorageReceiver
from pneumo_desktop.intake.receiving import CONNECTION_REFUSED, ReceivingConfig, ReceivingService
from pneumo_desktop.intake.tls import TlsConfigError, client_context, server_context
from tests.dicom_sender import send
from tests.intake.pki import make_pki

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _dataset(folder: Path, seed: int = 0) -> pydicom.Dataset:
    path = write_dicom(folder / f"{generate_uid()}.dcm", synthetic_chest(128, seed=seed),
                       SOPClassUID=DigitalXRayImageStorageForPresentation, Modality="DX",
                       StudyInstanceUID=generate_uid(), PatientID=f"P{seed}",
                       PatientName=f"Doe^Child{seed}")
    return pydicom.dcmread(path)


def _stored(out: Path) -> list[Path]:
    return sorted(out.glob("*/*.dcm"))


def _target(out: Path, ds: pydicom.Dataset) -> Path:
    return out / ds.StudyInstanceUID / f"{ds.SOPInstanceUID}.dcm"


def test_tls_with_a_ca_accepts_only_senders_it_signed(tmp_path, pki):
    got, refused, out = [], [], tmp_path / "out"
    context = server_context(pki / "receiver.pem", pki / "receiver.key", pki / "ca.pem")
    receiver = StorageReceiver(out, got.append, port=0, host=HOST, ssl_context=context,
                               on_refused=lambda address, reason: refused.append(reason))
    receiver.start()
    signed = client_context(pki / "ca.pem", pki / "modality.pem", pki / "modality.key")
    other_ca = client_context(pki / "ca.pem", pki / "intruder.pem", pki / "intruder.key")
    no_certificate = client_context(pki / "ca.pem")
    good, plain, intruder, anonymous = (_dataset(tmp_path, seed) for seed in range(4))
    try:
        assert send(receiver.port, [good], tls_args=(signed, "localhost")) == [SUCCESS]
        with pytest.raises(AssertionError, match="association refused"):
            send(receiver.port, [plain])  # plain DICOM on the TLS port
        with pytest.raises(AssertionError, match="association refused"):
            send(receiver.port, [intruder], tls_args=(other_ca, "localhost"))
        with pytest.raises(AssertionError, match="association refused"):
            send(receiver.port, [anonymous], tls_args=(no_certificate, "localhost"))
        # the receiver still serves signed senders after the refusals
        assert send(receiver.port, [good], tls_args=(signed, "localhost")) == [SUCCESS]
    finally:
        receiver.stop()
    assert _stored(out) == [_target(out, good)]
    assert pydicom.dcmread(_target(out, good)).PixelData == good.PixelData
    assert [a.path for a in got] == [_target(out, good)]
    assert len(refused) == 3 and all(r.startswith("TLS handshake failed") for r in refused)


def test_tls_without_a_ca_encrypts_for_any_sender(tmp_path, pki):
    got, out = [], tmp_path / "out"
    receiver = StorageReceiver(out, got.append, port=0, host=HOST,
                               ssl_context=server_context(pki / "receiver.pem",
                                                          pki / "receiver.key"))
    receiver.start()
    ds = _dataset(tmp_path)
    try:
        # the sender checks the receiver's certificate and shows none of its own
        assert send(receiver.port, [ds], tls_args=(client_context(pki / "ca.pem"),
                                                   HOST)) == [SUCCESS]
        # a sender trusting another CA does not talk to this receiver
        with pytest.raises(AssertionError, match="association refused"):
            send(receiver.port, [ds], tls_args=(client_context(pki / "other-ca.pem"), HOST))
    finally:
        receiver.stop()
    assert _stored(out) == [_target(out, ds)]


def test_a_silent_caller_does_not_hold_up_the_tls_port(tmp_path, pki):
    """pynetdicom alone would do the handshake in its accepting thread: one connection that
    sends nothing would stop every sender after it."""
    got, out = [], tmp_path / "out"
    receiver = StorageReceiver(out, got.append, port=0, host=HOST,
                               ssl_context=server_context(pki / "receiver.pem",
                                                          pki / "receiver.key", pki / "ca.pem"))
    receiver.start()
    ds = _dataset(tmp_path)
    signed = client_context(pki / "ca.pem", pki / "modality.pem", pki / "modality.key")
    try:
        with socket.create_connection((HOST, receiver.port)):  # connects, says nothing
            start = time.monotonic()
            assert send(receiver.port, [ds], tls_args=(signed, "localhost")) == [SUCCESS]
            assert time.monotonic() - start < 10
    finally:
        receiver.stop()
    assert _stored(out) == [_target(out, ds)]


def test_unusable_certificate_files_are_reported(tmp_path, pki):
    with pytest.raises(TlsConfigError, match="is not a file"):
        server_context(tmp_path / "missing.pem", pki / "receiver.key")
    with pytest.raises(TlsConfigError, match="cannot be used"):
        server_context(pki / "receiver.pem", pki / "modality.key")  # not its key
    with pytest.raises(TlsConfigError, match="CA certificate"):
        client_context(pki / "receiver.key")


def test_an_unlisted_address_is_refused_and_logged_a_listed_one_stores(tmp_path):
    out, audit_path = tmp_path / "out", tmp_path / "audit.sqlite"
    config = ReceivingConfig(out, port=0, host="", audit_path=audit_path,
                             allowed_addresses=["127.0.0.2", "fd00::/8"])
    service = ReceivingService(config, lambda paths: iter(()))
    service.pipeline.stop()  # receiving only
    service.receiver.start()  # on 0.0.0.0
    refused, accepted = _dataset(tmp_path, 1), _dataset(tmp_path, 2)
    try:
        with pytest.raises(AssertionError, match="association refused"):
            send(service.port, [refused], host=HOST)  # from 127.0.0.1
        assert send(service.port, [accepted], host=HOST,
                    bind_address=("127.0.0.2", 0)) == [SUCCESS]
    finally:
        service.receiver.stop()
    assert _stored(out) == [_target(out, accepted)]  # nothing of the refused one
    with AuditLog(audit_path) as log:
        event, = log.events(CONNECTION_REFUSED)
        assert (event["source"], event["detail"]) == (HOST, "address not in the allow-list")
        received, = log.events("received")
        assert received["source"] == "DICOM MODALITY 127.0.0.2"
        assert log.verify().intact
    service.audit.close()


def test_allow_list_entries():
    networks = parse_networks(["10.0.0.5", "192.168.1.0/24", "fd00::/8", " "])
    assert address_allowed("10.0.0.5", networks)
    assert address_allowed("192.168.1.77", networks)
    assert address_allowed("::ffff:192.168.1.9", networks)  # IPv4-mapped, from a dual stack
    assert address_allowed("fd12:3456::1%eth0", networks)
    assert not address_allowed("10.0.0.6", networks)
    assert not address_allowed("fe80::1", networks)
    assert not address_allowed("not-an-address", networks)
    assert address_allowed("203.0.113.9", [])  # no list: anyone
    with pytest.raises(PneumoError, match="not an IPv4 or IPv6"):
        parse_networks(["10.0.0.300"])


def test_cli_receive_over_tls_with_an_allow_list(tmp_path, pki, tiny_bundle):
    out, audit_path = tmp_path / "out", tmp_path / "audit.sqlite"
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(repo), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pneumo_desktop", "receive", "--port", "0", "--out", str(out),
         "--model", str(tiny_bundle), "--listen-address", "", "--audit-log", str(audit_path),
         "--tls-cert", str(pki / "receiver.pem"), "--tls-key", str(pki / "receiver.key"),
         "--tls-ca", str(pki / "ca.pem"), "--allow-address", "127.0.0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = ""
        while "receiving as" not in banner:
            banner = proc.stderr.readline()
            assert banner, "the receiver stopped before listening"
        assert "listening on all addresses, TLS (CA-signed senders only); from 127.0.0.2 " \
               "only" in banner
        port = int(banner.split(" on port ")[1].split(",")[0])
        tls = (client_context(pki / "ca.pem", pki / "modality.pem", pki / "modality.key"),
               "localhost")
        ds = _dataset(tmp_path)
        with pytest.raises(AssertionError, match="association refused"):
            send(port, [ds], host=HOST, tls_args=tls)  # from 127.0.0.1: not listed
        with pytest.raises(AssertionError, match="association refused"):
            send(port, [ds], host=HOST, bind_address=("127.0.0.2", 0))  # plain
        assert send(port, [ds], host=HOST, tls_args=tls,
                    bind_address=("127.0.0.2", 0)) == [SUCCESS]
        deadline = time.monotonic() + 60
        while not (out / "results.csv").is_file() or len(
                (out / "results.csv").read_text().splitlines()) < 2:
            assert time.monotonic() < deadline, "not scored"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "warning: any computer" not in stderr  # guarded by TLS and the allow-list
    assert _stored(out) == [_target(out, ds)]
    with AuditLog(audit_path) as log:
        first, second = (e["detail"] for e in log.events(CONNECTION_REFUSED))
        assert first == "address not in the allow-list"
        assert second.startswith("TLS handshake failed")  # (WRONG_VERSION_NUMBER) here
        assert log.verify().intact
