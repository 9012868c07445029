"""TLS for DICOM associations (PS3.15 Annex B, secure transport connection profiles): the
receiver's server context and the client context for associations this app opens (results
sent to a PACS). TLS 1.2 or later; with a CA, the other side must show a certificate it signed.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from pneumo_desktop.errors import PneumoError

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


class TlsConfigError(PneumoError):
    """A certificate, key or CA file cannot be used."""


def _load(action, what: str, *paths: str | os.PathLike | None) -> None:
    for path in paths:
        if path is not None and not Path(path).is_file():
            raise TlsConfigError(f"{what}: {path} is not a file")
    try:
        action()
    except (ssl.SSLError, OSError, ValueError) as exc:
        names = ", ".join(str(p) for p in paths if p is not None)
        raise TlsConfigError(f"{what} ({names}) cannot be used: {exc}") from None


def server_context(cert: str | os.PathLike, key: str | os.PathLike,
                   ca: str | os.PathLike | None = None) -> ssl.SSLContext:
    """The receiver's context: it shows `cert` (PEM, with `key`); with `ca` (PEM), a sender
    must show a certificate `ca` signed (ssl.CERT_REQUIRED), else no sender certificate is
    asked for."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    _load(lambda: context.load_cert_chain(cert, key), "TLS certificate and key", cert, key)
    if ca is not None:
        _load(lambda: context.load_verify_locations(cafile=ca), "TLS CA certificate", ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(ca: str | os.PathLike, cert: str | os.PathLike | None = None,
                   key: str | os.PathLike | None = None, *,
                   check_hostname: bool = True) -> ssl.SSLContext:
    """A context for associations this app opens: the peer (e.g. the PACS) must show a
    certificate `ca` signed, for the host name given to `ae.associate(..., tls_args=(context,
    hostname))` unless `check_hostname` is False; `cert`/`key`: this app's own certificate, for
    a peer that asks for one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = MINIMUM_VERSION
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    _load(lambda: context.load_verify_locations(cafile=ca), "TLS CA certificate", ca)
    if cert is not None:
        _load(lambda: context.load_cert_chain(cert, key), "TLS certificate and key", cert, key)
    return context


def peer_name(sock: object) -> str:
    """The common name of the certificate the peer of TLS socket `sock` showed ('' if none)."""
    getpeercert = getattr(sock, "getpeercert", None)
    cert = getpeercert() if getpeercert else None
    for rdn in (cert or {}).get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return value
    return ""
