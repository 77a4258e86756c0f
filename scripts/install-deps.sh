#!/usr/bin/env bash
# Installs what the tests need on a Debian machine that has Go: Debian packages and Go tools.
# Idempotent: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
