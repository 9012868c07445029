"""The command line: `pneumo-desktop score|train|evaluate|calibrate|receive|reads|self-test|...`
and, with no command, the app. The top layer: it may import every other package, and nothing
imports it. The CLI and the GUI call the same functions."""

from pneumo_desktop.cli.main import main

__all__ = ["main"]
