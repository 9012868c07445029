"""Certificates for the TLS tests, made with the `openssl` command as docs/security.md tells a
clinic to: a CA, the receiver's certificate and a sender's, all signed by it, and a second CA
with a sender of its own (whom the receiver must refuse)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> None:
    """name.key, name.pem: a self-signed CA."""
    _openssl("req", "-x509", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-days", "3650", "-subj", f"/O=Test clinic/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)


def make_signed(folder: Path, name: str, ca: str, usage: str, san: str) -> None:
    """name.key, name.pem: a certificate `ca` signed, for serverAuth or clientAuth."""
    (folder / f"{name}.ext").write_text(
        f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage={usage}\nsubjectAltName={san}\n")
    _openssl("req", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/O=Test clinic/CN={name}", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "825", "-extfile",
             f"{name}.ext", cwd=folder)


def make_pki(folder: Path) -> Path:
    """ca, receiver (for 127.0.0.1/localhost), modality (signed by ca); other-ca, intruder."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    make_ca(folder, "ca")
    make_signed(folder, "receiver", "ca", "serverAuth", "DNS:localhost,IP:127.0.0.1")
    make_signed(folder, "modality", "ca", "clientAuth", "DNS:modality.clinic.lan")
    make_ca(folder, "other-ca")
    make_signed(folder, "intruder", "other-ca", "clientAuth", "DNS:intruder.lan")
    return folder
