"""The release build: PyInstaller bundle, tar.gz and .deb made by packaging/build.sh.

Slow (builds everything, about 5 minutes on 2 cores), so it runs only when selected:

    python -m pytest -m packaging

PNEUMO_PACKAGING_PREBUILT=dist checks the artifacts already in dist/ instead of building.

The GPU flavour (`packaging/build.sh --gpu`: TensorFlow's CUDA build with the CUDA 12
libraries, a 3 GB download) is built and checked too only with PNEUMO_TEST_GPU_INSTALLER=1;
the same tests run on it, without a GPU (TensorFlow falls back to the CPU).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[1]
NAME = "pneumo-desktop"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["version"]
BUILD_TIMEOUT_S = {"cpu": 1800, "gpu": 3600}
#: the CUDA libraries of tensorflow[and-cuda] the GPU bundle must hold (under _internal/nvidia)
CUDA_LIBRARIES = ("cuda_runtime/lib/libcudart.so.12", "cublas/lib/libcublas.so.12",
                  "cublas/lib/libcublasLt.so.12", "cudnn/lib/libcudnn.so.9",
                  "cufft/lib/libcufft.so.11", "curand/lib/libcurand.so.10",
                  "cusolver/lib/libcusolver.so.11", "cusparse/lib/libcusparse.so.12",
                  "nccl/lib/libnccl.so.2", "nvjitlink/lib/libnvJitLink.so.12")


@pytest.fixture(scope="module", autouse=True)
def _selected(request):
    """Only with `-m packaging`: the plain `pytest` run must not spend minutes building."""
    expr = request.config.getoption("markexpr") or ""
    if "packaging" not in expr or re.search(r"not\s+packaging", expr):
        pytest.skip("builds the release bundle (minutes): run `python -m pytest -m packaging`")
    if not sys.platform.startswith("linux"):
        pytest.skip("the packaging test builds the Linux bundle and .deb")


@pytest.fixture(scope="module", params=["cpu", "gpu"])
def built(request, tmp_path_factory) -> dict:
    """Run packaging/build.sh once per flavour (or take PNEUMO_PACKAGING_PREBUILT); the
    artifacts."""
    flavour = request.param
    if flavour == "gpu" and os.environ.get("PNEUMO_TEST_GPU_INSTALLER") != "1":
        pytest.skip("the GPU installer downloads 3 GB of CUDA libraries and takes about "
                    "40 minutes on 2 cores: set PNEUMO_TEST_GPU_INSTALLER=1 to build and check it")
    package = NAME if flavour == "cpu" else f"{NAME}-gpu"
    prebuilt = os.environ.get("PNEUMO_PACKAGING_PREBUILT")
    if prebuilt:
        dist = (REPO / prebuilt).resolve()
    else:
        if importlib.util.find_spec("PyInstaller") is None:
            pytest.skip("PyInstaller is not installed (pip install -e '.[build]')")
        if shutil.which("dpkg-deb") is None:
            pytest.skip("dpkg-deb is not installed (apt-get install dpkg)")
        scratch = tmp_path_factory.mktemp(f"release-{flavour}")
        dist = scratch / "dist"
        # Build venvs (made when this interpreter's TensorFlow is not the flavour's) are kept
        # between runs in build/packaging-venvs/.
        env = {**os.environ, "PYTHON": sys.executable, "PNEUMO_DIST_DIR": str(dist),
               "PNEUMO_WORK_DIR": str(scratch / "build"),
               "PNEUMO_VENV_DIR": str(REPO / "build" / "packaging-venvs")}
        if not (REPO / "models" / "default" / "model.keras").is_file():
            # The shipped model is not there yet: package a small stand-in bundle.
            from conftest import make_bundle

            make_bundle(scratch / "models" / "default", arch="compact_cnn", size=224,
                        name="packaging-test-stand-in")
            env["PNEUMO_MODELS_DIR"] = str(scratch / "models")
        command = ["bash", str(REPO / "packaging" / "build.sh")]
        if flavour == "gpu":
            command.append("--gpu")
        started = time.perf_counter()
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=BUILD_TIMEOUT_S[flavour])
        seconds = time.perf_counter() - started
        print(f"packaging/build.sh{' --gpu' if flavour == 'gpu' else ''}: {seconds:.0f} s")
        assert result.returncode == 0, (f"build.sh failed ({result.returncode}):\n"
                                        f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    artifacts = {
        "bundle": dist / package,
        "exe": dist / package / NAME,
        "tarball": dist / f"{package}-{VERSION}-linux-x86_64.tar.gz",
        "deb": dist / f"{package}_{VERSION}_amd64.deb",
    }
    for key, path in artifacts.items():
        assert path.exists(), f"{key}: {path} was not built"
    return {**artifacts, "flavour": flavour, "package": package}


def _bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Like `env -i`: an empty HOME, a PATH with no Python (nor anything else) on it."""
    home, empty_bin = tmp_path / "home", tmp_path / "empty-bin"
    home.mkdir(exist_ok=True)
    empty_bin.mkdir(exist_ok=True)
    return {"HOME": str(home), "PATH": str(empty_bin), "QT_QPA_PLATFORM": "offscreen", **extra}


def _no_network_prefix() -> list[str]:
    """`unshare -n` (a network namespace with no interface up) when this machine allows it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for flags in (["-n"], ["-r", "-n"]):  # as root; else with a user namespace
        probe = subprocess.run([unshare, *flags, "true"], capture_output=True)
        if probe.returncode == 0:
            return [unshare, *flags]
    return []


def _run(cmd: list[str], env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def test_self_test_in_a_bare_environment_without_network(built, tmp_path):
    prefix = _no_network_prefix()
    # Without unshare, any HTTP(S) attempt through Python's usual clients fails on a dead proxy.
    dead_proxy = {} if prefix else {key: "http://127.0.0.1:9" for key in (
        "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    started = time.perf_counter()
    result = _run([*prefix, str(built["exe"]), "self-test"], _bare_env(tmp_path, **dead_proxy))
    seconds = time.perf_counter() - started
    print(f"self-test from the bundle ({'unshare -n' if prefix else 'dead proxy'}): "
          f"{seconds:.1f} s\n{result.stdout}")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
    assert f"Pneumo Desktop {VERSION} self-test" in result.stdout
    assert "checksum ok" in result.stdout
    assert "FAIL" not in result.stdout
    assert result.stdout.count("\nok ") == 4
    assert "learned input check: present" in result.stdout
    assert "device: CPU" in result.stdout or "device: GPU" in result.stdout


def test_every_module_imports_and_dicom_codecs_are_found_frozen(built, tmp_path):
    """packaging/entry.py's PNEUMO_BUNDLE_CHECK: all pneumo_desktop modules import in the
    bundle, and pydicom finds the pylibjpeg codecs (found through dist-info entry points)."""
    result = _run([str(built["exe"])], _bare_env(tmp_path, PNEUMO_BUNDLE_CHECK="1"))
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
    assert "bundle check ok" in result.stdout
    # the GUI's compute process: the frozen executable spawned itself and answered
    assert re.search(r"compute process: (CPU|GPU)", result.stdout)
    assert re.search(r"JPEG-LS Lossless Image Compression\): .*pylibjpeg", result.stdout)
    assert re.search(r"JPEG 2000 Image Compression\): .*pylibjpeg", result.stdout)


def test_frozen_app_decodes_compressed_dicom(built, tmp_path):
    from conftest import shared_data

    folder = shared_data("dicom")
    out = tmp_path / "scores.csv"
    result = _run([str(built["exe"]), "score", str(folder), "--out", str(out)],
                  _bare_env(tmp_path))
    # 3: most of these real DICOMs are adults, refused by the input check (not read errors)
    assert result.returncode in (0, 3), f"{result.stdout}\n{result.stderr[-4000:]}"
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "probability", "prediction", "threshold", "model", "error",
                             "input_check"]
    assert len(rows) == len(list(folder.glob("*.dcm")))
    for row in rows:  # decoded: scored, or refused with the reason
        assert row["probability"] or row["error"].startswith("not scored: "), row
    assert any("j2k" in row["path"] for row in rows)
    assert any("jpegls" in row["path"] for row in rows)


def test_bundle_leaves_out_unused_and_network_parts(built):
    internal = built["bundle"] / "_internal"
    assert (internal / "models" / "default" / "model.keras").is_file()
    assert (internal / "models" / "default" / "model.json").is_file()
    assert (internal / "models" / "default" / "input_check.npz").is_file()
    assert (internal / "resources" / "icon.png").is_file()
    for dist in ("pylibjpeg", "pylibjpeg_libjpeg", "pylibjpeg_openjpeg", "keras"):
        assert list(internal.glob(f"{dist}-*.dist-info/METADATA")), f"{dist} metadata missing"
    assert list(internal.glob("pylibjpeg_openjpeg-*.dist-info/entry_points.txt"))
    plugins = internal / "PySide6" / "Qt" / "plugins"
    for needed in ("platforms/libqxcb.so", "platforms/libqoffscreen.so",
                   "imageformats/libqjpeg.so"):
        assert (plugins / needed).is_file(), needed
    for unwanted in ("tls", "networkinformation", "qmltooling", "egldeviceintegrations"):
        assert not (plugins / unwanted).exists(), unwanted
    assert not (plugins / "platformthemes" / "libqgtk3.so").exists()
    unwanted_dirs = ("tensorboard", "tkinter", "IPython", "pytest", "_pytest", "PyInstaller")
    for name in unwanted_dirs:
        assert not (internal / name).exists(), name
    assert not list(internal.glob("tensorboard*")), "tensorboard data collected"
    assert not list((internal / "PySide6").glob("Qt*Quick*")), "Qt Quick collected"

    # Python modules live in the executable's PYZ archive: list them.
    listing = subprocess.run([sys.executable, "-m", "PyInstaller.utils.cliutils.archive_viewer",
                              "-l", "-r", "-b", str(built["exe"])],
                             capture_output=True, text=True, timeout=120)
    if listing.returncode != 0:
        pytest.skip(f"cannot list the PYZ archive: {listing.stderr[-500:]}")
    modules = set(re.findall(r"^\s*(\S+)\s*$", listing.stdout, re.MULTILINE))
    assert "pneumo_desktop.cli" in modules and "keras" in modules, listing.stdout[:2000]
    banned = ("tensorboard", "tkinter", "IPython", "pytest", "_pytest", "jax", "torch",
              "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtWebEngineCore")
    prefixes = tuple(name + "." for name in banned)
    found = sorted(m for m in modules if m in banned or m.startswith(prefixes))
    assert not found, found
    assert not [m for m in modules if m.startswith("keras.src.") and m.endswith("_test")]


def test_bundle_holds_the_flavours_tensorflow(built):
    """CPU installer: tensorflow-cpu, no CUDA library (its size stays that of before the dev
    install moved to the CUDA build). GPU installer: the CUDA build with the CUDA 12
    libraries tensorflow[and-cuda] brings."""
    internal = built["bundle"] / "_internal"
    cpu_meta = list(internal.glob("tensorflow_cpu-*.dist-info"))
    cuda_meta = list(internal.glob("tensorflow-[0-9]*.dist-info"))
    nvidia = sorted(str(path.relative_to(internal)) for path in internal.rglob("lib*.so*")
                    if "nvidia" in path.relative_to(internal).parts)
    if built["flavour"] == "cpu":
        assert cpu_meta and not cuda_meta, (cpu_meta, cuda_meta)
        assert not nvidia, nvidia[:20]
        assert not (internal / "nvidia").exists()
    else:
        assert cuda_meta and not cpu_meta, (cpu_meta, cuda_meta)
        missing = [lib for lib in CUDA_LIBRARIES if not (internal / "nvidia" / lib).exists()]
        assert not missing, f"CUDA libraries missing from the GPU bundle: {missing}"


def test_deb_contents_and_control(built, tmp_path):
    listing = subprocess.run(["dpkg-deb", "-c", str(built["deb"])], capture_output=True,
                             text=True, check=True, timeout=300).stdout
    entries = {}
    for line in listing.splitlines():
        fields = line.split(None, 5)
        path = fields[5].split(" -> ")[0]
        entries[path.removeprefix(".")] = fields[0]
    for path in (f"/usr/bin/{NAME}", f"/usr/share/applications/{NAME}.desktop",
                 f"/usr/share/icons/hicolor/256x256/apps/{NAME}.png",
                 f"/usr/share/icons/hicolor/scalable/apps/{NAME}.svg",
                 f"/opt/{NAME}/{NAME}", f"/opt/{NAME}/_internal/models/default/model.keras",
                 f"/opt/{NAME}/_internal/models/default/model.json",
                 f"/usr/share/doc/{built['package']}/copyright"):
        assert path in entries, f"{path} not in the .deb"
    assert entries[f"/usr/bin/{NAME}"].startswith("-rwxr-xr-x")
    assert entries[f"/opt/{NAME}/{NAME}"].startswith("-rwxr-xr-x")
    assert entries[f"/opt/{NAME}/_internal/models/default/"].startswith("drwxr-xr-x")
    assert " root/root " in listing.splitlines()[0]

    def field(name: str) -> str:
        return subprocess.run(["dpkg-deb", "-f", str(built["deb"]), name], capture_output=True,
                              text=True, check=True).stdout.strip()

    assert field("Package") == built["package"]
    # Both flavours install /opt/pneumo-desktop: installing one replaces the other.
    other = f"{NAME}-gpu" if built["flavour"] == "cpu" else NAME
    assert field("Conflicts") == other and field("Replaces") == other
    assert field("Version") == VERSION
    assert field("Architecture") == "amd64"
    depends = field("Depends")
    for lib in ("libc6", "libgl1", "libegl1", "libxcb1", "libxkbcommon0", "libfontconfig1",
                "libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0"):
        assert re.search(rf"(^|, ){lib}( |,|$)", depends), f"{lib} not in Depends: {depends}"

    # The small files: launcher and menu entry.
    root = tmp_path / "deb"
    root.mkdir()
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(built["deb"])],
                           stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(root), "./usr"], stdin=tar.stdout, check=True,
                   timeout=300)
    tar.wait(timeout=300)
    launcher = (root / "usr" / "bin" / NAME).read_text()
    assert launcher.startswith("#!/bin/sh") and f"/opt/{NAME}/{NAME}" in launcher
    desktop = (root / "usr" / "share" / "applications" / f"{NAME}.desktop").read_text()
    assert "[Desktop Entry]" in desktop
    assert f"\nExec={NAME} gui %F\n" in desktop and f"\nIcon={NAME}\n" in desktop
    assert "\nType=Application\n" in desktop and "\nTerminal=false\n" in desktop


def test_tarball_holds_the_bundle(built):
    names = subprocess.run(["tar", "-tzf", str(built["tarball"])], capture_output=True,
                           text=True, check=True, timeout=600).stdout.splitlines()
    folder = built["package"]
    assert f"{folder}/{NAME}" in names
    assert f"{folder}/_internal/models/default/model.keras" in names


def test_gui_starts_from_the_bundle_under_xvfb(built, tmp_path):
    xvfb, xwininfo = shutil.which("Xvfb"), shutil.which("xwininfo")
    if xvfb is None or xwininfo is None:
        pytest.skip("Xvfb / xwininfo not installed (apt-get install xvfb x11-utils)")
    internal = built["bundle"] / "_internal"
    libs = f"{internal}:{internal / 'PySide6' / 'Qt' / 'lib'}"
    ldd = subprocess.run(["ldd", str(internal / "PySide6/Qt/plugins/platforms/libqxcb.so")],
                         capture_output=True, text=True, env={"LD_LIBRARY_PATH": libs})
    missing = [line.split()[0] for line in ldd.stdout.splitlines() if "not found" in line]
    if missing:  # the .deb depends on them; this machine lacks them
        pytest.skip(f"libraries of Qt's xcb plugin missing here: {', '.join(missing)}")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1280x800x24",
                               "-nolisten", "tcp"], pass_fds=(write_fd,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            display = ":" + pipe.readline().strip()
        env = _bare_env(tmp_path, DISPLAY=display)
        del env["QT_QPA_PLATFORM"]  # the real xcb platform plugin
        log = tmp_path / "gui.log"
        with open(log, "w") as handle:
            app = subprocess.Popen([str(built["exe"])], env=env, stdout=handle,
                                   stderr=subprocess.STDOUT)
        try:
            deadline, windows = time.monotonic() + 120, ""
            while time.monotonic() < deadline and app.poll() is None:
                windows = subprocess.run([xwininfo, "-root", "-tree"], capture_output=True,
                                         text=True, env={"DISPLAY": display}).stdout
                if '"Pneumo Desktop"' in windows:
                    break
                time.sleep(1)
            assert app.poll() is None, f"the GUI exited ({app.returncode}):\n{log.read_text()}"
            assert '"Pneumo Desktop"' in windows, f"no main window:\n{log.read_text()}"
            time.sleep(3)  # let it paint
            assert app.poll() is None, log.read_text()
        finally:
            app.terminate()
            try:
                app.wait(timeout=20)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait()
    finally:
        server.terminate()
        server.wait(timeout=20)
