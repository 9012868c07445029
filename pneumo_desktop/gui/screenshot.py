"""Render the main window with a study and its heat map to a PNG (for the documentation).

    python -m pneumo_desktop.gui.screenshot --image X.jpeg --out docs/screenshot-main.png

Uses a throw-away settings file, so the user's settings are neither read nor changed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, QTimer


def _wait(signal, timeout_s: float) -> bool:
    loop, fired = QEventLoop(), []
    signal.connect(lambda *args: (fired.append(args), loop.quit()))
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    return bool(fired)


def _wait_any(signals, timeout_s: float) -> bool:
    """Wait for the first of several signals (a study is scored, or refused by the check)."""
    loop, fired = QEventLoop(), []
    for signal in signals:
        signal.connect(lambda *args: (fired.append(args), loop.quit()))
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    return bool(fired)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="the study to show")
    parser.add_argument("--out", default="docs/screenshot-main.png")
    parser.add_argument("--model", help="model bundle (default: the shipped model)")
    parser.add_argument("--batch", help="also score this folder, so the batch table shows")
    parser.add_argument("--size", default="1366x768", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--score-anyway", action="store_true",
                        help="for a study the input check refuses, press 'Score anyway'")
    args = parser.parse_args(argv)

    from pneumo_desktop.gui.app import make_application
    from pneumo_desktop.gui.window.main_window import MainWindow

    app = make_application([sys.argv[0]])
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(model_path=args.model, settings=settings)
        window.resize(width, height)
        window.show()
        if not window.is_model_ready and not _wait(window.modelReady, 120):
            print(f"error: no model ({window.model_status.text()})", file=sys.stderr)
            return 1
        if args.batch:
            window.score_folder(args.batch)
            _wait(window.batchFinished, 300)
        window.open_image(args.image)
        if not _wait_any((window.imageScored, window.imageRefused), 120):
            print("error: the image was neither scored nor refused", file=sys.stderr)
            return 1
        if args.score_anyway:
            window.score_anyway()
        window.set_heatmap_visible(True)
        for _ in range(5):
            app.processEvents()
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        ok = window.grab().save(args.out)
        window.close()
    print(f"{'wrote' if ok else 'could not write'} {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
