"""The Qt side of the DICOM intake: the worklist of received studies (`worklist`), the dock
that holds it with the receiving settings and announcements (`intake_dock`), the bridge that
runs the receiver and brings its results to the GUI thread (`receiver_controller`), and the
worker that opens the audit log (`audit_opener`). The networking code (`pneumo_desktop.intake`)
is imported only once the worklist is used."""
