"""Pneumo Desktop: offline pediatric chest X-ray pneumonia screening."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("pneumo-desktop")
except _metadata.PackageNotFoundError:  # running from a source tree or a frozen bundle
    __version__ = "0+unknown"
