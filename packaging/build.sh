#!/usr/bin/env bash
# Build the Linux release of Pneumo Desktop, CPU flavour (default) or GPU flavour (--gpu):
#   dist/pneumo-desktop[-gpu]/                                one-folder PyInstaller bundle
#   dist/pneumo-desktop[-gpu]-<version>-linux-x86_64.tar.gz   that folder, archived
#   dist/pneumo-desktop[-gpu]_<version>_amd64.deb             installs to /opt/pneumo-desktop
#
# Usage: packaging/build.sh [--gpu] [--package-only]
#   --gpu            bundle TensorFlow's CUDA build with the CUDA 12 libraries from PyPI
#                    (tensorflow[and-cuda], about 3 GB more); default: tensorflow-cpu
#   --package-only   reuse an existing bundle in dist/ (skip PyInstaller)
# Environment:
#   PYTHON              interpreter with the app installed (default: python). Used as it is
#                       when its TensorFlow is the flavour's (tensorflow-cpu; tensorflow with
#                       its nvidia-*-cu12 libraries for --gpu); otherwise a build venv is made
#                       once in $PNEUMO_VENV_DIR/venv-<flavour> (default: the work folder)
#                       with the same package versions and the flavour's TensorFlow
#                       (packaging/build_env.py), and reused while those stay the same
#   PNEUMO_MODELS_DIR   folder whose default/ bundle is shipped (default: models/)
#   DEB_COMPRESSION     dpkg-deb compressor: gzip (default), xz, zstd, none
#   DEB_MAINTAINER      the .deb's Maintainer field
#   PNEUMO_DIST_DIR     output folder (default: dist/); PNEUMO_WORK_DIR: scratch (default: build/)
# The machine is shared: run it as `nice -n 10 packaging/build.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python}
NAME=pneumo-desktop
DEB_MAINTAINER=${DEB_MAINTAINER:-"Pneumo Desktop maintainers <pneumo-desktop@example.org>"}
PACKAGE_ONLY=0
FLAVOUR=cpu
for arg in "$@"; do
    case "$arg" in
        --package-only) PACKAGE_ONLY=1 ;;
        --gpu) FLAVOUR=gpu ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done
# The GPU flavour is a different package: its own folder, archive and .deb name.
PACKAGE=$NAME
[ "$FLAVOUR" = gpu ] && PACKAGE=$NAME-gpu

VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
INSTALLED=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("pneumo-desktop"))' 2>/dev/null || true)
if [ "$INSTALLED" != "$VERSION" ]; then
    echo "build.sh: pyproject.toml says version $VERSION but the installed pneumo-desktop is" \
         "'${INSTALLED:-not installed}': run \`pip install -e .\` first (the app reads its version" \
         "from the installed metadata)" >&2
    exit 1
fi
DIST=$(mkdir -p "${PNEUMO_DIST_DIR:-$ROOT/dist}" && cd "${PNEUMO_DIST_DIR:-$ROOT/dist}" && pwd)
WORK=$(mkdir -p "${PNEUMO_WORK_DIR:-$ROOT/build}" && cd "${PNEUMO_WORK_DIR:-$ROOT/build}" && pwd)
BUNDLE="$DIST/$PACKAGE"
TARBALL="$DIST/$PACKAGE-$VERSION-linux-x86_64.tar.gz"
DEB="$DIST/${PACKAGE}_${VERSION}_amd64.deb"
log() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }

# 0. the Python environment to bundle ---------------------------------------------------------
# `pip install -e .` gets `tensorflow` (the CUDA build) on Linux x86-64; the CPU installer
# bundles `tensorflow-cpu`, whose libraries are half the size.
BUILD_PYTHON=$PYTHON
if [ "$PACKAGE_ONLY" = 0 ] && ! "$PYTHON" packaging/build_env.py check "$FLAVOUR"; then
    VENVS=$(mkdir -p "${PNEUMO_VENV_DIR:-$WORK}" && cd "${PNEUMO_VENV_DIR:-$WORK}" && pwd)
    VENV="$VENVS/venv-$FLAVOUR"
    SPEC="$WORK/env-$FLAVOUR"
    "$PYTHON" packaging/build_env.py write "$FLAVOUR" "$SPEC"
    "$PYTHON" -c 'import sys; print(sys.version)' \
        | cat - "$SPEC/requirements.txt" "$SPEC/constraints.txt" > "$SPEC/stamp"
    if ! cmp -s "$SPEC/stamp" "$VENV/.pneumo-build-stamp"; then  # made once, then reused
        log "build venv: $VENV ($(grep '^tensorflow' "$SPEC/requirements.txt"))"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -r "$SPEC/requirements.txt" \
            -c "$SPEC/constraints.txt"
        "$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
        cp "$SPEC/stamp" "$VENV/.pneumo-build-stamp"
    fi
    BUILD_PYTHON="$VENV/bin/python"
    "$BUILD_PYTHON" packaging/build_env.py check "$FLAVOUR"
fi

# 1. the one-folder bundle -------------------------------------------------------------------
if [ "$PACKAGE_ONLY" = 0 ]; then
    log "PyInstaller: $BUNDLE (version $VERSION)"
    PNEUMO_FLAVOUR=$FLAVOUR "$BUILD_PYTHON" -m PyInstaller build.spec --noconfirm --clean \
        --log-level WARN --distpath "$DIST" --workpath "$WORK/pyinstaller-$FLAVOUR"
fi
[ -x "$BUNDLE/$NAME" ] || { echo "build.sh: no bundle at $BUNDLE" >&2; exit 1; }
[ -f "$BUNDLE/_internal/models/default/model.keras" ] \
    || { echo "build.sh: the bundle has no models/default/model.keras" >&2; exit 1; }
# Readable by every user once installed (bundles written by the app are private: 0700).
chmod -R u+rwX,go+rX,go-w "$BUNDLE"

# 2. tar.gz ----------------------------------------------------------------------------------
log "tarball: $TARBALL"
rm -f "$TARBALL"
if command -v pigz >/dev/null; then
    tar -C "$DIST" --owner=0 --group=0 -cf - "$PACKAGE" | pigz -6 > "$TARBALL"
else
    tar -C "$DIST" --owner=0 --group=0 -czf "$TARBALL" "$PACKAGE"
fi

# 3. .deb ------------------------------------------------------------------------------------
if ! command -v dpkg-deb >/dev/null; then
    echo "build.sh: dpkg-deb not found; skipping the .deb" >&2
    exit 0
fi
log "deb: $DEB"
STAGE="$WORK/deb/${PACKAGE}_${VERSION}_amd64"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/icons/hicolor/256x256/apps" "$STAGE/usr/share/icons/hicolor/scalable/apps" \
    "$STAGE/usr/share/doc/$PACKAGE"
# hard links when possible: the bundle is over 1 GB
cp -al "$BUNDLE" "$STAGE/opt/$NAME" 2>/dev/null || cp -a "$BUNDLE" "$STAGE/opt/$NAME"
install -m 0755 packaging/linux/pneumo-desktop.sh "$STAGE/usr/bin/$NAME"
install -m 0644 packaging/linux/pneumo-desktop.desktop "$STAGE/usr/share/applications/$NAME.desktop"
install -m 0644 resources/icon.png "$STAGE/usr/share/icons/hicolor/256x256/apps/$NAME.png"
install -m 0644 resources/icon.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/$NAME.svg"
cat > "$STAGE/usr/share/doc/$PACKAGE/copyright" <<EOF
Pneumo Desktop $VERSION - MIT License (see the project's LICENSE).
/opt/$NAME bundles third-party components under their own licenses, among them
Python (PSF), Qt 6 / PySide6 (LGPL-3.0), TensorFlow and Keras (Apache-2.0),
OpenCV (Apache-2.0), pydicom (MIT), pylibjpeg-libjpeg (GPL-3.0), pylibjpeg-openjpeg
(MIT; OpenJPEG BSD-2-Clause), NumPy, h5py, Pillow and Matplotlib (BSD-style).
License files shipped with the bundled Python packages are in /opt/$NAME/_internal/.
EOF
if [ "$FLAVOUR" = gpu ]; then
    cat >> "$STAGE/usr/share/doc/$PACKAGE/copyright" <<EOF
This GPU package also bundles NVIDIA's CUDA 12 libraries from PyPI (CUDA runtime,
cuBLAS, cuDNN, cuFFT, cuRAND, cuSOLVER, cuSPARSE, NCCL, nvJitLink, NVRTC, CUPTI, ptxas)
under NVIDIA's licence agreements, in /opt/$NAME/_internal/nvidia/ with their
License.txt files.
EOF
fi

# glibc the bundle needs: the newest GLIBC_x.y symbol version any of its files references.
GLIBC_MIN=""
if command -v objdump >/dev/null; then
    GLIBC_MIN=$(find "$BUNDLE" -type f \( -name '*.so*' -o -name "$NAME" \) -print0 \
        | xargs -0 objdump -T 2>/dev/null | grep -oE 'GLIBC_[0-9]+\.[0-9]+' \
        | sed 's/GLIBC_//' | sort -uV | tail -1)
fi
GLIBC_MIN=${GLIBC_MIN:-$(ldd --version | head -1 | grep -oE '[0-9]+\.[0-9]+$')}
INSTALLED_KB=$(du -sk --apparent-size "$STAGE" | cut -f1)

# What `ldd` shows the bundle needs from the system: PyInstaller leaves out libc, libGL/libEGL
# and libxcb; the X11/xcb libraries of Qt's xcb platform plugin are bundled only when the
# build machine has them, so they are listed too; fontconfig and xkbcommon also bring their
# configuration, a font and the keyboard layouts; Wayland for the wayland platform plugin.
DEPENDS="libgl1, libegl1, libfontconfig1, libfreetype6, libdbus-1-3, libxkbcommon0, \
libxkbcommon-x11-0, libx11-6, libx11-xcb1, libxcb1, libxcb-cursor0, libxcb-glx0, \
libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render0, \
libxcb-render-util0, libxcb-shape0, libxcb-shm0, libxcb-sync1, libxcb-util1, libxcb-xfixes0, \
libxcb-xkb1, libwayland-client0, libwayland-cursor0, libwayland-egl1"
# Both flavours install /opt/pneumo-desktop and the pneumo-desktop command: one replaces the other.
if [ "$FLAVOUR" = gpu ]; then
    OTHER=$NAME
    SUMMARY="offline pediatric chest X-ray pneumonia screening (NVIDIA GPU)"
else
    OTHER=$NAME-gpu
    SUMMARY="offline pediatric chest X-ray pneumonia screening"
fi
cat > "$STAGE/DEBIAN/control" <<EOF
Package: $PACKAGE
Version: $VERSION
Section: science
Priority: optional
Architecture: amd64
Maintainer: $DEB_MAINTAINER
Installed-Size: $INSTALLED_KB
Depends: libc6 (>= $GLIBC_MIN), $DEPENDS
Conflicts: $OTHER
Replaces: $OTHER
Description: $SUMMARY
 Pneumo Desktop scores pediatric chest radiographs (JPEG, PNG, TIFF, DICOM
 including JPEG / JPEG-LS / JPEG 2000 compressed) for pneumonia with a bundled
 convolutional network and shows Grad-CAM heat maps. It works without a
 network connection and can fine-tune its model on local, labelled studies.
 .
 Decision support only: it does not replace a radiologist's reading.
 .
 The self-contained application (Python, Qt, TensorFlow) is installed in
 /opt/pneumo-desktop; the command is pneumo-desktop.
EOF
if [ "$FLAVOUR" = gpu ]; then
    cat >> "$STAGE/DEBIAN/control" <<EOF
 .
 This package bundles TensorFlow's CUDA build and the CUDA 12 libraries: it
 computes on an NVIDIA GPU when the NVIDIA driver (525.60.13 or newer) is
 installed, else on the CPU. Without an NVIDIA GPU, the smaller pneumo-desktop
 package does the same.
EOF
fi

rm -f "$DEB"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-gzip}" --build "$STAGE" "$DEB" >/dev/null
rm -rf "$STAGE"

log "done"
du -sh "$BUNDLE" "$TARBALL" "$DEB"
