"""DICOM Storage SCP (pynetdicom): accepts radiograph instances from an X-ray machine or PACS
and stores each one atomically as OUT/<StudyInstanceUID>/<SOPInstanceUID>.dcm before
answering success. Scoring happens elsewhere: each new instance goes to `on_arrival`."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from pydicom import uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    SecondaryCaptureImageStorage,
    Verification,
)

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.intake.connection_guard import GuardedAssociationServer, parse_networks
from pneumo_desktop.intake.pipeline import Arrival, describe, sha256_bytes

log = logging.getLogger(__name__)

#: the storage SOP classes of radiographs; any other is refused
ACCEPTED_SOP_CLASSES = (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    SecondaryCaptureImageStorage,
)
#: transfer syntaxes the app decodes (see imaging.dicom_io)
TRANSFER_SYNTAXES = (
    uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian, uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLossless,
    uid.JPEGLosslessSV1, uid.JPEGLSLossless, uid.JPEGLSNearLossless, uid.JPEG2000Lossless,
    uid.JPEG2000, uid.RLELossless,
)
DEFAULT_AE_TITLE, DEFAULT_PORT = "PNEUMO", 11112

# C-STORE statuses (PS3.4 B.2.3)
SUCCESS = 0x0000
SOP_CLASS_NOT_SUPPORTED = 0x0122
OUT_OF_RESOURCES = 0xA700
DATASET_DOES_NOT_MATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
TEMP_SUFFIX = ".part"


def is_uid(value: str) -> bool:
    """A syntactically valid DICOM UID (so it is also a safe file name)."""
    return 0 < len(value) <= 64 and _UID.match(value) is not None


def remove_temporaries(folder: Path) -> int:
    """Delete the temporary files an interrupted store left in `folder`; returns how many."""
    count = 0
    for tmp in folder.glob(f"*/.*.dcm.*{TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            count += 1
    return count


class StorageReceiver:
    """A Storage SCP on `port` (0: any free port) as `ae_title`, storing into `out_dir`.

    `allowed_callers` limits the calling AE titles (None: any); associations must name
    `ae_title` as the called AE. `allowed_addresses` (addresses or networks; None: any) and
    `ssl_context` (TLS; see `tls.server_context`) are checked as a connection is accepted; a
    refused one goes to `on_refused(address, reason)`. Each new instance is stored, then handed
    to `on_arrival` (which must return quickly, e.g. queue it), then answered with success; a
    duplicate (same SOP Instance UID already stored) is answered with success and not handed
    on again.
    """

    def __init__(self, out_dir: str | os.PathLike, on_arrival: Callable[[Arrival], None], *,
                 ae_title: str = DEFAULT_AE_TITLE, port: int = DEFAULT_PORT, host: str = "",
                 allowed_callers: Iterable[str] | None = None,
                 allowed_addresses: Iterable[str] | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 on_refused: Callable[[str, str], None] | None = None):
        if not ae_title or len(ae_title) > 16 or "\\" in ae_title:
            raise PneumoError(f"AE title {ae_title!r} must have 1 to 16 characters, no '\\'")
        self.out_dir = Path(out_dir).resolve()
        self.on_arrival = on_arrival
        self.ae_title, self.host, self._port = ae_title, host, port
        self.allowed_callers = sorted(set(allowed_callers or ()))
        self.allowed_networks = parse_networks(allowed_addresses or ())
        self.ssl_context, self.on_refused = ssl_context, on_refused
        self._store_lock = threading.Lock()  # duplicate check + rename + hand-over
        self._busy = 0
        self._idle = threading.Condition()
        self._ae: AE | None = None
        self._server = None

    @property
    def port(self) -> int:
        """The port listened on (the one chosen when started with port 0)."""
        return self._server.server_address[1] if self._server else self._port

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Remove temporaries of an interrupted run, then listen (returns at once)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        removed = remove_temporaries(self.out_dir)
        if removed:
            log.warning("removed %d incomplete file(s) of an interrupted transfer", removed)
        ae = AE(ae_title=self.ae_title)
        for sop_class in ACCEPTED_SOP_CLASSES:
            ae.add_supported_context(sop_class, list(TRANSFER_SYNTAXES))
        ae.add_supported_context(Verification)
        ae.require_called_aet = True
        ae.require_calling_aet = self.allowed_callers
        server = ae.make_server((self.host, self._port), ssl_context=self.ssl_context,
                                evt_handlers=[(evt.EVT_C_STORE, self.handle_store)],
                                server_class=GuardedAssociationServer,
                                allowed=self.allowed_networks, on_refused=self.on_refused)
        ae._servers.append(server)  # as ae.start_server does: server.shutdown() removes it
        threading.Thread(target=server.serve_forever, name=f"receiver-{self.ae_title}",
                         daemon=True).start()
        self._server, self._ae = server, ae

    def stop(self, timeout: float = 30.0) -> None:
        """Stop listening, abort open associations (unanswered instances will be sent again
        by the sender), and wait for an instance being stored to reach the disk."""
        if self._ae is None:
            return
        self._server.shutdown()
        for assoc in self._server.active_associations:
            assoc.abort()
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout)
        self._ae, self._server = None, None

    def handle_store(self, event) -> int:
        """EVT_C_STORE handler: the status to answer."""
        with self._idle:
            self._busy += 1
        try:
            return self._store(event)
        except Exception:
            log.exception("storing an instance failed")
            return OUT_OF_RESOURCES
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _store(self, event) -> int:
        sop_class = str(event.request.AffectedSOPClassUID)
        if sop_class not in ACCEPTED_SOP_CLASSES:
            return SOP_CLASS_NOT_SUPPORTED
        data = event.encoded_dataset()
        info = describe(data)
        if not info:
            return CANNOT_UNDERSTAND
        sop = str(event.request.AffectedSOPInstanceUID)
        study = info["study_instance_uid"]
        if (info["sop_instance_uid"] != sop or info["sop_class_uid"] != sop_class
                or not is_uid(sop) or not is_uid(study)):
            return DATASET_DOES_NOT_MATCH
        folder = self.out_dir / study
        target = folder / f"{sop}.dcm"
        if target.exists():
            return SUCCESS
        folder.mkdir(parents=True, exist_ok=True)
        tmp = _write_temporary(folder, target.name, data)
        requestor = event.assoc.requestor
        arrival = Arrival(target, f"DICOM {requestor.ae_title} {requestor.address}",
                          sha256_bytes(data), **info)
        with self._store_lock:
            try:
                if target.exists():  # the same instance on another association meanwhile
                    return SUCCESS
                os.replace(tmp, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            _fsync_folder(folder)
            try:
                self.on_arrival(arrival)
            except Exception:
                target.unlink()  # not logged: refuse it, so the sender sends it again
                raise
        return SUCCESS


def _write_temporary(folder: Path, name: str, data: bytes) -> str:
    """`data` in a synced temporary file in `folder` (mode 0600: it names a patient)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
