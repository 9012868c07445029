"""Build step (all other metadata is in pyproject.toml): the wheel carries the shipped model
and the icons as package data.

git holds one copy of them, in the top-level `models/default/` and `resources/`. `build_py`
copies every file there into `pneumo_desktop/_data/` of the build, so a wheel install (pip,
pipx) finds them next to its code (`pneumo_desktop.paths.app_root`). An editable install copies
nothing: it reads the source tree, as a checkout does.
"""

from __future__ import annotations

import json
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: source folder -> its place under pneumo_desktop/_data/ (pneumo_desktop.paths.PACKAGE_DATA)
SHIPPED = {"models/default": "models/default", "resources": "resources"}
REQUIRED = ("models/default/model.keras", "models/default/model.json", "resources/icon.png")


def shipped_files() -> list[tuple[Path, str]]:
    """(source file, destination relative to pneumo_desktop/_data) for every file of the
    shipped folders, hidden files left out."""
    found = []
    for source, target in SHIPPED.items():
        folder = ROOT / source
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                found.append((path, f"{target}/{relative.as_posix()}"))
    names = {target for _, target in found}
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise SystemExit(f"setup.py: {', '.join(missing)} missing: the wheel ships the default "
                         "model and the icons (train the model into models/default)")
    json.loads((ROOT / "models/default/model.json").read_text(encoding="utf-8"))
    return found


class BuildPyWithData(build_py):
    """build_py, then the shipped model and icons into pneumo_desktop/_data/."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the editable install reads the source tree
            return
        for source, target in self._data_files():
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(source), target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [target for _, target in self._data_files()]

    def _data_files(self) -> list[tuple[Path, str]]:
        base = Path(self.build_lib) / "pneumo_desktop" / "_data"
        return [(source, str(base / target)) for source, target in shipped_files()]


setup(cmdclass={"build_py": BuildPyWithData})
