"""Headless core: image I/O, model bundles, inference, training and metrics. Never imports Qt."""
