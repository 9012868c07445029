"""A real PACS for the tests: Orthanc (Debian package `orthanc`) started on free loopback ports
with its own configuration and storage in a temporary folder (never the system service's),
asked through its REST API what arrived, and stopped at teardown.

Making it refuse objects: Orthanc 1.10 answers success even when a Lua filter drops an
instance, so `refuse_other_patients()` uses "MaximumPatientCount": 1 with a protected patient:
every C-STORE of another patient is then answered 0xA700 (out of resources).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

AE_TITLE = "TESTPACS"


def orthanc_binary() -> str:
    """The Orthanc program, or skip the test with the reason."""
    found = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/bin")
    if not found:
        pytest.skip("Orthanc is not installed (apt-get install orthanc): no PACS to send to")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Orthanc:
    """One Orthanc in `folder` (storage and config); `start()`/`stop()` may repeat, keeping
    the storage and the ports (a PACS that goes down and comes back)."""

    def __init__(self, folder: Path, *, max_patients: int = 0):
        self.folder = Path(folder)
        self.binary = orthanc_binary()
        self.dicom_port, self.http_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        config = {
            "Name": "pneumo-tests", "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "storage"), "HttpPort": self.http_port,
            "DicomPort": self.dicom_port, "DicomAet": AE_TITLE, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "DicomCheckCalledAet": True,
            "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "Plugins": [],
            "LuaScripts": [], "DicomModalities": {}, "SaveJobs": False,
            "MaximumPatientCount": max_patients, "HttpThreadsCount": 4,
            "DicomThreadsCount": 2, "ConcurrentJobs": 1,
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = self.folder / "orthanc.json"
        self.config.write_text(json.dumps(config, indent=1))

    @property
    def destination(self) -> str:
        return f"{AE_TITLE}@127.0.0.1:{self.dicom_port}"

    def start(self, timeout: float = 30.0) -> Orthanc:
        log = open(self.folder / "orthanc.log", "ab")  # noqa: SIM115 (the process's stdout)
        self.proc = subprocess.Popen([self.binary, str(self.config)], stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.folder)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get("/system")
                with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = (self.folder / "orthanc.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"Orthanc did not start:\n{tail}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop and wait for the process to end (it frees its ports only then, ~3 s)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    # -- REST ----------------------------------------------------------------------------
    def _request(self, path: str, data: bytes | None = None, method: str = "GET",
                 raw: bool = False):
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}",
                                         data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
        return body if raw else json.loads(body) if body else None

    def get(self, path: str):
        return self._request(path)

    def upload(self, data: bytes) -> dict:
        """Store a DICOM file through REST (as a modality's copy of the source would be)."""
        return self._request("/instances", data, "POST")

    def find(self, **query: str) -> list[dict]:
        """Instances whose main tags match `query` (e.g. Modality="SR"), with their tags."""
        body = json.dumps({"Level": "Instance", "Query": query, "Expand": True}).encode()
        return self._request("/tools/find", body, "POST")

    def file(self, instance_id: str) -> bytes:
        """The DICOM file as stored."""
        return self._request(f"/instances/{instance_id}/file", raw=True)

    def tags(self, instance_id: str) -> dict:
        return self.get(f"/instances/{instance_id}/tags?simplify")

    def instances_by_study(self) -> dict[str, list[tuple[str, str]]]:
        """StudyInstanceUID -> [(Modality, SOPInstanceUID)] of everything stored."""
        found: dict[str, list[tuple[str, str]]] = {}
        for item in self.get("/instances?expand"):
            tags = self.tags(item["ID"])
            found.setdefault(tags["StudyInstanceUID"], []).append(
                (tags.get("Modality", ""), tags["SOPInstanceUID"]))
        return found

    def refuse_other_patients(self, data: bytes) -> str:
        """Store `data` (another patient) and protect it: with max_patients=1 every object of
        a different patient is then refused. Returns the patient's Orthanc id."""
        patient = self.upload(data)["ParentPatient"]
        self._request(f"/patients/{patient}/protected", b"1", "PUT")
        return patient

    def accept_again(self, patient: str) -> None:
        """Unprotect the patient: the next store recycles it and is accepted."""
        self._request(f"/patients/{patient}/protected", b"0", "PUT")

