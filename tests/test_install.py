"""What `pip install -e .` installs: TensorFlow's CUDA build on Linux x86-64, the `gpu` extra
with the CUDA libraries, the Python versions, and the README saying the same."""

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
README = (REPO / "README.md").read_text("utf-8")
LINUX_X86_64 = {"sys_platform": "linux", "platform_machine": "x86_64",
                "platform_system": "Linux"}
OTHER_PLATFORMS = {
    "Linux aarch64": {"sys_platform": "linux", "platform_machine": "aarch64",
                      "platform_system": "Linux"},
    "macOS arm64": {"sys_platform": "darwin", "platform_machine": "arm64",
                    "platform_system": "Darwin"},
    "Windows": {"sys_platform": "win32", "platform_machine": "AMD64",
                "platform_system": "Windows"},
}


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _tensorflow_requirements(lines: list[str]) -> list[Requirement]:
    return [req for req in map(Requirement, lines) if req.name.startswith("tensorflow")]


def _applies(req: Requirement, platform_env: dict[str, str], extra: str = "") -> bool:
    env = {**default_environment(), **platform_env, "extra": extra}
    return req.marker is None or req.marker.evaluate(env)


def test_installed_tensorflow_is_cuda_built_on_linux_x86_64():
    if not (sys.platform.startswith("linux") and platform.machine() == "x86_64"):
        pytest.skip(f"TensorFlow has a CUDA build for Linux x86-64 only, not "
                    f"{sys.platform} {platform.machine()}")
    cpu, cuda = _version("tensorflow-cpu"), _version("tensorflow")
    if cpu and not cuda:
        pytest.skip(f"tensorflow-cpu {cpu} is installed: this environment was installed before "
                    "the dependency became `tensorflow` (the CUDA build). `pip uninstall -y "
                    "tensorflow-cpu && pip install -e .` updates it; a fresh install (.ci/run) "
                    "gets `tensorflow`")
    assert cuda, "no TensorFlow installed: pip install -e ."
    assert not cpu, (f"both tensorflow {cuda} and tensorflow-cpu {cpu} are installed and overwrite "
                     "each other's files: pip uninstall -y tensorflow-cpu tensorflow && "
                     "pip install -e .")
    # A fresh interpreter: importing TensorFlow here would change what later tests measure.
    code = ("import json, tensorflow as tf; info = dict(tf.sysconfig.get_build_info()); "
            "print(json.dumps({'cuda': tf.test.is_built_with_cuda(), "
            "'cuda_version': info.get('cuda_version', ''), 'version': tf.__version__}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["version"] == cuda
    assert found["cuda"], f"tensorflow {cuda} is not built with CUDA: {found}"
    major = found["cuda_version"].split(".")[0]
    # What the README tells a clinic (driver version, the CUDA libraries of the gpu extra)
    # holds for this CUDA major version.
    assert f"CUDA {major}" in README, (f"TensorFlow {cuda} is built with CUDA "
                                       f"{found['cuda_version']}; README does not say CUDA {major}")


def test_pyproject_installs_what_the_readme_says():
    dependencies = _tensorflow_requirements(PROJECT["dependencies"])
    # One TensorFlow requirement, `tensorflow` on every platform: on Linux x86-64 the CUDA build.
    assert [req.name for req in dependencies] == ["tensorflow"], dependencies
    tensorflow = dependencies[0]
    assert not tensorflow.extras
    for env in [LINUX_X86_64, *OTHER_PLATFORMS.values()]:
        assert _applies(tensorflow, env), env

    gpu = _tensorflow_requirements(PROJECT["optional-dependencies"]["gpu"])
    assert len(gpu) == 1 and len(PROJECT["optional-dependencies"]["gpu"]) == 1, gpu
    cuda = gpu[0]
    assert cuda.name == "tensorflow" and cuda.extras == {"and-cuda"}, cuda
    assert cuda.specifier == tensorflow.specifier, (cuda.specifier, tensorflow.specifier)
    assert _applies(cuda, LINUX_X86_64, "gpu")
    for name, env in OTHER_PLATFORMS.items():  # `.[gpu]` adds nothing there, and fails nowhere
        assert not _applies(cuda, env, "gpu"), name

    # README: the same requirements as written in pyproject.toml, and the commands.
    for line in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["gpu"]:
        if Requirement(line).name == "tensorflow":
            text = f"`{line.split(';')[0].strip()}`"
            assert text in README, f"README does not state {text} (pyproject.toml)"
    assert 'pip install -e ".[gpu]"' in README
    assert "tensorflow-cpu" in README  # which TensorFlow the CPU installer bundles
    assert "packaging/build.sh --gpu" in README


def test_readme_installer_sizes_name_both_flavours():
    installer = README.split("## Installer", 1)[1].split("\n## ", 1)[0]
    for name in ("pneumo-desktop-<version>-linux-x86_64.tar.gz",
                 "pneumo-desktop-gpu-<version>-linux-x86_64.tar.gz",
                 "pneumo-desktop_<version>_amd64.deb", "pneumo-desktop-gpu_<version>_amd64.deb"):
        assert name in installer, f"README's Installer section does not name {name}"


def test_readme_install_names_the_python_versions_of_pyproject():
    supported = SpecifierSet(PROJECT["requires-python"])
    versions = [f"3.{minor}" for minor in range(6, 30) if f"3.{minor}" in supported]
    assert versions[0] == "3.11" and len(versions) >= 3, versions  # 3.12 (Ubuntu 24.04) too
    install = README.split("## Install and start", 1)[1].split("\n## ", 1)[0]
    assert f"Python {versions[0]} to {versions[-1]}" in install
    first_command = re.search(r"```bash\n(.+)\n", install).group(1)
    assert first_command.startswith("python3 -m venv .venv "), first_command
    assert "pipx install ." in install  # the second way to install
