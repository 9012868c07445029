"""One study on screen: the zoomable X-ray viewer with its heat-map layer, window/level and
banner (`viewer`), the side panel with the result in plain words and its wording helpers
(`result_panel`), and the worker that decodes and scores the study (`image_scorer`). Imports
only `gui` basics (imaging, workers) and the core packages, never the window."""
