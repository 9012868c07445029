"""The Python environment packaging/build.sh bundles, per installer flavour.

    python packaging/build_env.py check cpu|gpu
        exit 0 when this interpreter holds the flavour's TensorFlow: `tensorflow-cpu` for the
        CPU installer; `tensorflow` (the CUDA build) with every CUDA library of its `and-cuda`
        extra (nvidia-*-cu12) for the GPU installer. Otherwise it says what it found (exit 1).

    python packaging/build_env.py write cpu|gpu FOLDER
        writes FOLDER/requirements.txt and FOLDER/constraints.txt for a build venv: the app's
        dependencies (pyproject.toml) with TensorFlow replaced by the flavour's, at the version
        installed here, and every other package pinned to the version installed here (the
        environment the tests ran in). The app itself is installed with `--no-deps -e .`.

The development install (`pip install -e .`) gets `tensorflow` on Linux x86-64: the CUDA build,
whose libraries are about twice the size of `tensorflow-cpu`'s, so the CPU installer is made
from a build venv with `tensorflow-cpu` instead.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
FLAVOURS = ("cpu", "gpu")
TF_DISTS = ("tensorflow", "tensorflow-cpu")


def _installed(name: str) -> md.Distribution | None:
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return None


def _tensorflow() -> tuple[str, str]:
    """(distribution, version) of the one TensorFlow installed here."""
    found = [(name, dist.version) for name in TF_DISTS if (dist := _installed(name))]
    if len(found) != 1:
        raise SystemExit(f"build_env: expected one of {', '.join(TF_DISTS)} installed in "
                         f"{sys.prefix}, found {found or 'none'}")
    return found[0]


def cuda_requirements(tensorflow: md.Distribution) -> list[Requirement]:
    """The requirements `tensorflow[and-cuda]` adds (the nvidia-*-cu12 libraries)."""
    env = {**default_environment(), "extra": "and-cuda"}
    plain = {**default_environment(), "extra": ""}
    out = []
    for line in tensorflow.requires or []:
        req = Requirement(line)
        if req.marker is not None and req.marker.evaluate(env) and not req.marker.evaluate(plain):
            out.append(req)
    return out


def check(flavour: str) -> tuple[bool, str]:
    name, version = _tensorflow()
    if flavour == "cpu":
        return name == "tensorflow-cpu", f"{name} {version}"
    if name != "tensorflow":
        return False, f"{name} {version} (the GPU installer needs tensorflow[and-cuda])"
    missing = []
    for req in cuda_requirements(md.distribution("tensorflow")):
        dist = _installed(req.name)
        if dist is None or not req.specifier.contains(dist.version, prereleases=True):
            missing.append(f"{req.name}{req.specifier}")
    if missing:
        return False, f"tensorflow {version} without its CUDA libraries: {', '.join(missing)}"
    return True, f"tensorflow {version} with its CUDA libraries"


def _app_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["build"]
    return [req for req in map(Requirement, lines)
            if req.marker is None or req.marker.evaluate()]


def _closure(requirements: list[Requirement]) -> dict[str, str]:
    """Installed name -> version for everything these requirements pull in here."""
    pinned: dict[str, str] = {}
    todo = [(req, frozenset(req.extras)) for req in requirements]
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        req, extras = todo.pop()
        key = (canonicalize_name(req.name), extras)
        if key in seen:
            continue
        seen.add(key)
        dist = _installed(req.name)
        if dist is None:
            continue
        pinned[key[0]] = dist.version
        for line in dist.requires or []:
            sub = Requirement(line)
            envs = [{**default_environment(), "extra": extra} for extra in extras or {""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append((sub, frozenset(sub.extras)))
    return pinned


def write(flavour: str, folder: Path) -> None:
    installed, version = _tensorflow()
    tf_requirement = (f"tensorflow-cpu=={version}" if flavour == "cpu"
                      else f"tensorflow[and-cuda]=={version}")
    requirements = [str(req) for req in _app_requirements()
                    if canonicalize_name(req.name) not in TF_DISTS]
    requirements.append(tf_requirement)
    # Both TensorFlow distributions need the same packages: pin those installed here (the
    # versions the tests ran with), but not TensorFlow itself nor the CUDA libraries, which
    # `tensorflow[and-cuda]` pins exactly.
    roots = [req if canonicalize_name(req.name) not in TF_DISTS else Requirement(installed)
             for req in _app_requirements()]
    closure = _closure(roots)
    constraints = [f"{name}=={ver}" for name, ver in sorted(closure.items())
                   if name not in TF_DISTS and not name.startswith("nvidia-")
                   and name != "pneumo-desktop" and re.fullmatch(r"[\w.!+-]+", ver)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n", "utf-8")
    (folder / "constraints.txt").write_text("\n".join(constraints) + "\n", "utf-8")


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("check", "write") or argv[1] not in FLAVOURS:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "check":
        ok, found = check(argv[1])
        print(f"{sys.prefix}: {found}")
        return 0 if ok else 1
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    write(argv[1], Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
