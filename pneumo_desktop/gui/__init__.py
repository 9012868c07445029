"""The Qt desktop interface (PySide6); never TensorFlow or Keras: models load and score in the
compute process. Here: the entry point and its system-library check (`app`,
`system_libraries`), persisted settings, the worker-thread basics (`workers`), Qt image
conversions, the table-model base and filter shared by the batch table and the worklist, and
the GUI-gap probe and screenshot script. Below: `window/` (the main window and the controllers
it wires), `viewer/` (one study: viewer, result panel, its scoring worker), `batch/` (batch
table, panel, workers, PDF report), `intake/` (worklist, intake dock, receiver controller) and
`wizard/` (the training wizard). May import every package except `cli`."""
