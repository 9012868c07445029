"""Talking to the clinic's PACS as a Storage SCU (pynetdicom): where it is (`Destination`,
over TLS when it has a CA), whether it answers (C-ECHO), and storing result objects (C-STORE)
with an answer per object that says whether to try again later."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pneumo_desktop.errors import PneumoError

DEFAULT_CALLING_AE = "PNEUMO"
TIMEOUT_S = 30.0
_DESTINATION = re.compile(r"^([^@\\]{1,16})@(\[[0-9A-Fa-f:.]+\]|[^:@\s]+):(\d{1,5})$")


@dataclass(frozen=True)
class Destination:
    """A PACS's DICOM address: AE title, host, port; with `tls_ca` (PEM) the association is
    DICOM over TLS and the PACS must show a certificate that CA signed for `host`; `tls_cert`
    and `tls_key`: this app's own certificate, for a PACS that asks for one."""

    ae_title: str
    host: str
    port: int
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"  # what `parse` reads back

    def with_tls(self, ca: str, cert: str = "", key: str = "") -> Destination:
        """The same destination over TLS (certificate files checked when it is used)."""
        if bool(cert) != bool(key):
            raise PneumoError("TLS to the PACS: give both this app's certificate and its key, "
                              "or neither")
        return replace(self, tls_ca=str(ca), tls_cert=str(cert or ""), tls_key=str(key or ""))

    def tls_args(self):
        """pynetdicom's `tls_args` for `associate`: None for plain DICOM."""
        if not self.tls_ca:
            return None
        from pneumo_desktop.intake.tls import client_context

        return (client_context(self.tls_ca, self.tls_cert or None, self.tls_key or None),
                self.host)

    @classmethod
    def parse(cls, text: str) -> Destination:
        """From 'AE@HOST:PORT' (raises PneumoError with what is wrong)."""
        match = _DESTINATION.match(text.strip())
        if not match or not 0 < int(match.group(3)) <= 65535:
            raise PneumoError(f"{text!r} is not a DICOM destination: write AE@HOST:PORT, "
                              "e.g. PACS@192.168.1.20:104 (AE title 1 to 16 characters)")
        return cls(match.group(1).strip(), match.group(2).strip("[]"), int(match.group(3)))


@dataclass(frozen=True)
class SendResult:
    """What happened to one object: sent, or why not and whether the PACS refused it."""

    ok: bool
    detail: str = ""
    refused: bool = False  # the PACS answered with a failure status (vs. not reachable)


def _ae(calling: str, contexts: list[str]):
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT_S
    ae.connection_timeout = 10.0
    for sop_class in contexts:
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    return ae


def _unreachable(assoc, destination: Destination) -> str:
    if assoc.is_rejected:
        return (f"{destination} rejected the association (check the AE titles: ours must be "
                "known to the PACS, theirs must be right)")
    return f"{destination} did not answer (down, wrong host or port, or a firewall)"


def echo(destination: Destination, calling: str = DEFAULT_CALLING_AE) -> str:
    """C-ECHO `destination`: '' when it answered, else what went wrong."""
    from pynetdicom.sop_class import Verification

    assoc = _ae(calling, [Verification]).associate(destination.host, destination.port,
                                                  ae_title=destination.ae_title,
                                                  tls_args=destination.tls_args())
    if not assoc.is_established:
        return _unreachable(assoc, destination)
    try:
        status = assoc.send_c_echo()
        code = status.get("Status") if status else None
        return "" if code == 0 else f"{destination} answered C-ECHO with status {code}"
    finally:
        assoc.release()


def store(destination: Destination, datasets: list[Dataset],
          calling: str = DEFAULT_CALLING_AE) -> list[SendResult]:
    """C-STORE each dataset on one association; one result per dataset, in order."""
    from pynetdicom.status import code_to_category

    sop_classes = sorted({str(ds.SOPClassUID) for ds in datasets})
    assoc = _ae(calling, sop_classes).associate(destination.host, destination.port,
                                               ae_title=destination.ae_title,
                                               tls_args=destination.tls_args())
    if not assoc.is_established:
        return [SendResult(False, _unreachable(assoc, destination))] * len(datasets)
    results = []
    try:
        for ds in datasets:
            if not assoc.is_established:
                results.append(SendResult(False, f"{destination} closed the association"))
                continue
            try:
                answer = assoc.send_c_store(ds)
            except ValueError as exc:  # no accepted presentation context for this class
                results.append(SendResult(False, f"{destination} does not accept "
                                                 f"{ds.SOPClassUID.name}: {exc}", True))
                continue
            code = answer.get("Status") if answer else None
            if code is None:
                results.append(SendResult(False, f"{destination} gave no answer (timeout or "
                                                 "aborted association)"))
            elif code_to_category(code) in ("Success", "Warning"):
                results.append(SendResult(True, f"status 0x{code:04X}" if code else ""))
            else:
                results.append(SendResult(False, f"{destination} refused it (status "
                                                 f"0x{code:04X})", True))
    finally:
        if assoc.is_established:
            assoc.release()
    return results
