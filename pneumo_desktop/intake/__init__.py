"""Studies arriving by themselves: the DICOM Storage SCP (`receiver`), the watched folder, the
intake pipeline that scores each arrival and appends results.csv (`pipeline`), the service that
wires them together (`receiving`), the append-only audit log and the reviewers' reads.

Imports `model`, `evaluation`, `imaging` and the foundation modules; scoring is injected (a
`Scorer`), so the receiver runs in the CLI, in the app, or beside the compute process.
"""
