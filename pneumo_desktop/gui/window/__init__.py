"""The main window (`main_window.MainWindow`) and what it wires: the controllers that hold its
state and drive its widgets (`model_controller`: model and threshold; `study_controller`: the
study on screen; `batch_controller`: batch scoring, CSV and PDF; `records_controller`: audit log
and worklist), its actions, menus and toolbar (`actions`), the Help boxes (`help_boxes`), the
model loader worker, and the dialogs it opens (model manager, preferences). Widgets come from
`viewer`, `batch` and `intake`; the training wizard from `wizard`."""
