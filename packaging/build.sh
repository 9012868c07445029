#!/usr/bin/env bash
# Build the Linux release of Pneumo Desktop:
#   dist/pneumo-desktop/                                  one-folder PyInstaller bundle
#   dist/pneumo-desktop-<version>-linux-x86_64.tar.gz     that folder, archived
#   dist/pneumo-desktop_<version>_amd64.deb               installs to /opt/pneumo-desktop
#
# Usage: packaging/build.sh [--package-only]
#   --package-only   reuse an existing dist/pneumo-desktop/ (skip PyInstaller)
# Environment:
#   PYTHON              interpreter with the app and PyInstaller installed (default: python)
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
for arg in "$@"; do
    case "$arg" in
        --package-only) PACKAGE_ONLY=1 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

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
BUNDLE="$DIST/$NAME"
TARBALL="$DIST/$NAME-$VERSION-linux-x86_64.tar.gz"
DEB="$DIST/${NAME}_${VERSION}_amd64.deb"
log() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }

# 1. the one-folder bundle -------------------------------------------------------------------
if [ "$PACKAGE_ONLY" = 0 ]; then
    log "PyInstaller: $BUNDLE (version $VERSION)"
    "$PYTHON" -m PyInstaller build.spec --noconfirm --clean --log-level WARN \
        --distpath "$DIST" --workpath "$WORK/pyinstaller"
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
    tar -C "$DIST" --owner=0 --group=0 -cf - "$NAME" | pigz -6 > "$TARBALL"
else
    tar -C "$DIST" --owner=0 --group=0 -czf "$TARBALL" "$NAME"
fi

# 3. .deb ------------------------------------------------------------------------------------
if ! command -v dpkg-deb >/dev/null; then
    echo "build.sh: dpkg-deb not found; skipping the .deb" >&2
    exit 0
fi
log "deb: $DEB"
STAGE="$WORK/deb/${NAME}_${VERSION}_amd64"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/icons/hicolor/256x256/apps" "$STAGE/usr/share/icons/hicolor/scalable/apps" \
    "$STAGE/usr/share/doc/$NAME"
# hard links when possible: the bundle is over 1 GB
cp -al "$BUNDLE" "$STAGE/opt/$NAME" 2>/dev/null || cp -a "$BUNDLE" "$STAGE/opt/$NAME"
install -m 0755 packaging/linux/pneumo-desktop.sh "$STAGE/usr/bin/$NAME"
install -m 0644 packaging/linux/pneumo-desktop.desktop "$STAGE/usr/share/applications/$NAME.desktop"
install -m 0644 resources/icon.png "$STAGE/usr/share/icons/hicolor/256x256/apps/$NAME.png"
install -m 0644 resources/icon.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/$NAME.svg"
cat > "$STAGE/usr/share/doc/$NAME/copyright" <<EOF
Pneumo Desktop $VERSION - MIT License (see the project's LICENSE).
/opt/$NAME bundles third-party components under their own licenses, among them
Python (PSF), Qt 6 / PySide6 (LGPL-3.0), TensorFlow and Keras (Apache-2.0),
OpenCV (Apache-2.0), pydicom (MIT), pylibjpeg-libjpeg (GPL-3.0), pylibjpeg-openjpeg
(MIT; OpenJPEG BSD-2-Clause), NumPy, h5py, Pillow and Matplotlib (BSD-style).
License files shipped with the bundled Python packages are in /opt/$NAME/_internal/.
EOF

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
cat > "$STAGE/DEBIAN/control" <<EOF
Package: $NAME
Version: $VERSION
Section: science
Priority: optional
Architecture: amd64
Maintainer: $DEB_MAINTAINER
Installed-Size: $INSTALLED_KB
Depends: libc6 (>= $GLIBC_MIN), $DEPENDS
Description: offline pediatric chest X-ray pneumonia screening
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

rm -f "$DEB"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-gzip}" --build "$STAGE" "$DEB" >/dev/null
rm -rf "$STAGE"

log "done"
du -sh "$BUNDLE" "$TARBALL" "$DEB"
