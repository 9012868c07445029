#!/bin/sh
# /usr/bin/pneumo-desktop: runs the bundle installed in /opt/pneumo-desktop.
# No argument starts the desktop app; `pneumo-desktop --help` lists the commands.
exec /opt/pneumo-desktop/pneumo-desktop "$@"
