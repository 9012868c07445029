"""The sdist and the wheel (`python -m build`), as pip, pipx or `pip install git+…` install the
app: the wheel carries every file of the shipped model and the icons, `twine check` passes, and
the wheel installed into a fresh venv (not editable) passes `self-test` and scores a film from
another folder with the model from its own site-packages.

About a minute (two builds, two TensorFlow start-ups), so it runs only when selected:

    python -m pytest -m wheel          (`-m packaging`, as .ci/run does, includes it)

Needs `build` and `twine` (`pip install -e ".[build]"`). The builds run with `--no-isolation`
(the setuptools of this venv, no download); `python -m build` with isolation makes the same files.

Where the fresh venv's dependencies come from: a full `pip install <wheel>` downloads
TensorFlow, PySide6 and the rest (about 1 GB) on every run: minutes and a network. So the
wheel goes in with `--no-deps`, and a `.pth` file appends this interpreter's site-packages
(same Python; `pip install -e .` put the same requirements there) to the fresh venv's
`sys.path`, after its own site-packages. Python reads `.pth` files only in site folders, so the
editable install's finder in this venv never runs there: `pneumo_desktop`, its model and icons
can come only from the wheel (asserted), and `pip check` under the fresh interpreter confirms
the wheel's requirements are met by what it sees. A full install with its dependencies from
PyPI into fresh Python 3.12 and 3.13 venvs was checked by hand (docs/packaging.md).
"""

from __future__ import annotations

import csv
import email.parser
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

pytestmark = [pytest.mark.packaging, pytest.mark.wheel]

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
VERSION = PROJECT["version"]
DATA = "pneumo_desktop/_data"  # pneumo_desktop.paths.PACKAGE_DATA inside the wheel
SHIPPED = {"models/default": REPO / "models" / "default", "resources": REPO / "resources"}


@pytest.fixture(scope="module", autouse=True)
def _selected(request):
    """Only with `-m wheel` or `-m packaging`: the plain `pytest` run must not build."""
    expr = request.config.getoption("markexpr") or ""
    if not re.search(r"\b(wheel|packaging)\b", expr) or re.search(r"not\s+(wheel|packaging)",
                                                                  expr):
        pytest.skip("builds and installs the wheel (a minute): run `python -m pytest -m wheel`")
    missing = [name for name in ("build", "twine") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: pip install -e \".[build]\"")


def _files(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every non-hidden file under `folder`."""
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(folder).parts)}


def _run(args: list, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(arg) for arg in args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def _outside_env(**extra: str) -> dict[str, str]:
    """This environment without what points Python at the source tree (PYTHONPATH: there the
    sdist build's pneumo_desktop.egg-info would make pip think the app is installed)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """`python -m build`: the sdist, then the wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    started = time.perf_counter()
    result = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO])
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sdists, wheels = list(out.glob("*.tar.gz")), list(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in out.iterdir())
    print(f"\npython -m build: {seconds:.1f} s; {wheels[0].name} "
          f"{wheels[0].stat().st_size / 2**20:.2f} MiB, {sdists[0].name} "
          f"{sdists[0].stat().st_size / 2**20:.2f} MiB")
    return {"sdist": sdists[0], "wheel": wheels[0]}


def test_names_and_twine_check(built):
    assert built["wheel"].name == f"pneumo_desktop-{VERSION}-py3-none-any.whl"
    assert built["sdist"].name == f"pneumo_desktop-{VERSION}.tar.gz"
    result = _run([sys.executable, "-m", "twine", "check", "--strict", built["sdist"],
                   built["wheel"]])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_wheel_carries_every_file_of_the_shipped_model_and_icons(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
        for target, source in SHIPPED.items():
            expected = _files(source)
            assert expected, f"{source} is empty"
            prefix = f"{DATA}/{target}/"
            packed = {name[len(prefix):]: hashlib.sha256(wheel.read(name)).hexdigest()
                      for name in names if name.startswith(prefix) and not name.endswith("/")}
            assert packed == expected, f"{prefix}: the wheel differs from {source}"
        metadata = wheel.read(f"pneumo_desktop-{VERSION}.dist-info/METADATA").decode()
    models = {name.split("/")[3] for name in names if name.startswith(f"{DATA}/models/")}
    assert models == {"default"}, models  # only the shipped model, not every bundle in models/
    assert not [name for name in names if name.startswith("tests/")]
    fields = email.parser.Parser().parsestr(metadata)
    assert fields["Version"] == VERSION
    assert SpecifierSet(fields["Requires-Python"]) == SpecifierSet(PROJECT["requires-python"])
    with tarfile.open(built["sdist"]) as sdist:  # the wheel can be rebuilt from the sdist
        members = set(sdist.getnames())
    root = f"pneumo_desktop-{VERSION}"
    for target, source in SHIPPED.items():
        for relative in _files(source):
            assert f"{root}/{target}/{relative}" in members, f"sdist lacks {target}/{relative}"
    assert f"{root}/setup.py" in members and f"{root}/CHANGELOG.md" in members


def _fresh_venv(path: Path, wheel: Path) -> tuple[Path, Path]:
    """A venv of this Python with the wheel installed (not editable, --no-deps) and this
    interpreter's site-packages after its own (see the module docstring); (bin, site)."""
    run = {"cwd": path.parent, "env": _outside_env()}
    _run([sys.executable, "-m", "venv", "--without-pip", path], check=True, **run)
    python = path / "bin" / "python"
    result = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
                   "--no-index", "--disable-pip-version-check", wheel], **run)
    assert result.returncode == 0, result.stdout + result.stderr
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     check=True, **run).stdout.strip())
    assert (site / "pneumo_desktop" / "__init__.py").is_file(), result.stdout
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_dependencies_from_test_venv.pth").write_text("\n".join(sorted(ours)) + "\n")
    return path / "bin", site


def test_installed_wheel_self_test_and_score_from_another_folder(built, tmp_path):
    import cv2

    from pneumo_desktop.imaging.synthetic import synthetic_chest

    started = time.perf_counter()
    bin_dir, site = _fresh_venv(tmp_path / "venv", built["wheel"])
    install_s = time.perf_counter() - started
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "films").mkdir(parents=True)
    cv2.imwrite(str(elsewhere / "films" / "film.png"), synthetic_chest(640, width=560, seed=3))
    env = _outside_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                       QT_QPA_PLATFORM="offscreen", PNEUMO_DATA_DIR=str(tmp_path / "data"),
                       TF_CPP_MIN_LOG_LEVEL="2")
    run = {"cwd": elsewhere, "env": env}
    app = bin_dir / "pneumo-desktop"
    default = site / DATA / "models" / "default"

    where = _run([bin_dir / "python", "-c", "import pneumo_desktop, pneumo_desktop.gui.app as a, "
                  "pneumo_desktop.model.bundle as b; print(pneumo_desktop.__file__); "
                  "print(b.default_bundle_path()); print(a.resources_dir())"], **run)
    assert where.returncode == 0, where.stderr
    assert where.stdout.split() == [str(site / "pneumo_desktop" / "__init__.py"), str(default),
                                    str(site / DATA / "resources")], where.stdout
    checked = _run([sys.executable, "-m", "pip", "--python", bin_dir / "python", "check"], **run)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    version = _run([app, "--version"], **run)
    assert version.stdout.strip() == f"pneumo-desktop {VERSION}", version.stdout + version.stderr

    started = time.perf_counter()
    self_test = _run([app, "self-test"], **run)
    self_test_s = time.perf_counter() - started
    assert self_test.returncode == 0, self_test.stdout + self_test.stderr[-3000:]
    assert f"Pneumo Desktop {VERSION} self-test" in self_test.stdout
    assert "checksum ok" in self_test.stdout and "FAIL" not in self_test.stdout
    assert f"model folder: {default}" in self_test.stdout, self_test.stdout

    scored = _run([app, "score", "films", "--out", "scores.csv", "--heatmaps", "heat",
                   "--no-input-check"], **run)
    assert scored.returncode == 0, scored.stdout + scored.stderr[-3000:]
    with open(elsewhere / "scores.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    card = (default / "model.json").read_text("utf-8")
    assert len(rows) == 1 and rows[0]["path"] == "films/film.png", rows
    assert 0.0 <= float(rows[0]["probability"]) <= 1.0 and not rows[0]["error"], rows
    assert f'"name": "{rows[0]["model"]}"' in card, rows[0]["model"]
    assert rows[0]["input_check"].startswith("scored anyway"), rows
    assert len(list((elsewhere / "heat").glob("*.png"))) == 1
    print(f"\nfresh venv + wheel install: {install_s:.1f} s; self-test {self_test_s:.1f} s; "
          f"score: {scored.stderr.strip().splitlines()[-1]}")
