"""Scoring many studies at once: the batch table model (`batch_model`), its dock panel with
filters and progress (`batch_panel`), the workers that score files and folders and write the
report (`batch_workers`), and the PDF report itself (`report`). Builds on `viewer` (result
wording, scoring one study for a heat map); never imports the window."""
