"""Make resources/icon.ico (the Windows executable and installer icon) from resources/icon.png.

Run after the app icon changes: `python packaging/make_icons.py`. The ICO is committed, so
builds do not need to run this. (icon.svg / icon.png belong to the GUI and are not touched.)
"""

from __future__ import annotations

import sys
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


def main() -> int:
    from PIL import Image

    png, ico = RESOURCES / "icon.png", RESOURCES / "icon.ico"
    with Image.open(png) as image:
        image.convert("RGBA").save(ico, sizes=SIZES)
    print(f"wrote {ico} from {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
