#!/bin/sh
# Installs headless Chromium for the regulator console test (issue 7 item 6).
# Idempotent: does nothing when chromium is already on PATH.
set -e
command -v chromium >/dev/null 2>&1 || {
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium chromium-driver
}
