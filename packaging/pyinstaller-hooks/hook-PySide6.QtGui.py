"""Replaces PyInstaller's own hook for PySide6.QtGui (hooks here take priority): same
collection, minus Qt plugins a desktop X-ray viewer never loads.

Dropping them here, before the dependency analysis, also keeps their libraries out of the
bundle (the GTK3 platform theme alone pulls in a private copy of cairo, pango, atk and
gdk-pixbuf that can clash with the system GTK it then loads).
"""

import os

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

# plugin folder -> file-name fragments to drop (None: the whole folder)
DROP = {
    "egldeviceintegrations": None,  # EGLFS: embedded boards without a window system
    "generic": None,                # evdev / tuio input for embedded systems
    "platforms": ("eglfs", "linuxfb", "vnc", "vkkhrdisplay", "minimalegl"),
    "platformthemes": ("gtk3",),    # keeps xdgdesktopportal (native dialogs through portals)
}

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)


def _wanted(src: str, dest: str) -> bool:
    parts = dest.replace("\\", "/").split("/")
    if "plugins" not in parts:
        return True
    category = "/".join(parts[parts.index("plugins") + 1:])  # "platforms", "platforms/darwin"
    if category not in DROP:
        return True
    fragments = DROP[category]
    return fragments is not None and not any(f in os.path.basename(src) for f in fragments)


binaries = [(src, dest) for src, dest in binaries if _wanted(src, dest)]
