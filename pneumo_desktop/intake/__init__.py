"""Studies arriving by themselves: the DICOM Storage SCP (`receiver`), the watched folder, the
intake pipeline that scores each arrival and appends results.csv (`pipeline`), the service that
wires them together (`receiving`), the append-only audit log with its hash chain
(`audit_log`, `audit_chain`) and the reviewers' reads; who may connect (`connection_guard`:
address allow-list, TLS handshake; `tls`: server and client contexts) and how long received
images stay (`retention`).

Imports `model`, `evaluation`, `imaging` and the foundation modules; scoring is injected (a
`Scorer`), so the receiver runs in the CLI, in the app, or beside the compute process.
"""
