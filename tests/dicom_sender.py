"""A pynetdicom sender (Storage SCU) for the tests and the benchmark: the modality's side.

pynetdicom 3.0's requestor has a race: its association reactor, running beside
`send_c_store()`, can take the C-STORE response off the queue first and drop it (logged at
WARNING "Received unexpected C-STORE service message"), so the sender waits for the DIMSE
timeout (30 s) and aborts. Seen about once in 2,000 instances on a loaded 2-core machine.
`fix_requestor_race()` hands such a response back to the queue; acceptors (the receiver under
test) are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydicom import Dataset
from pynetdicom import AE
from pynetdicom.association import Association

_serve_request = Association._serve_request


def _give_responses_back(self: Association, msg, context_id: int) -> None:
    if self.is_requestor and not msg.is_valid_request:  # meant for the waiting send_*()
        self.dimse.msg_queue.put((context_id, msg))
        return
    _serve_request(self, msg, context_id)


def fix_requestor_race() -> None:
    Association._serve_request = _give_responses_back


fix_requestor_race()


def send(port: int, datasets: Iterable[Dataset | Path], *, calling: str = "MODALITY",
         called: str = "PNEUMO", host: str = "127.0.0.1", handlers=None,
         **associate) -> list[int | None]:
    """C-STORE each dataset (or file) on one association; the statuses (None: no answer).
    Raises AssertionError when the association is refused. `associate`: more arguments of
    `ae.associate` (tls_args, bind_address)."""
    import pydicom

    datasets = [pydicom.dcmread(d) if isinstance(d, Path) else d for d in datasets]
    ae = AE(ae_title=calling)
    for context in {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
                    for ds in datasets}:
        ae.add_requested_context(*context)
    assoc = ae.associate(host, port, ae_title=called, evt_handlers=handlers or [], **associate)
    assert assoc.is_established, "association refused"
    try:
        statuses = []
        for ds in datasets:
            answer = assoc.send_c_store(ds)
            statuses.append(answer.Status if "Status" in answer else None)
        return statuses
    finally:
        assoc.release()
