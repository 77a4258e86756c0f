#!/usr/bin/env bash
# Installs what the tests and notebooks need on a Debian machine that has Go: Debian's Jupyter packages, the
# packages the tests use (python3-jupyter-kernel-test, chromium, chromium-driver, docker-compose, libopenblas0-pthread, postgresql, slurm-wlm, munge, python3-torch, python3-scipy, python3-skimage), GoNB and
# goimports pinned in tools/go.mod, and the "Go (stylelab)" kernelspec.
# Idempotent: it skips what is already there and says what it did. When another package manager holds the dpkg
# lock (unattended upgrades on a fresh machine), it waits for it, up to $STYLELAB_APT_LOCK_WAIT (default 10m).
# The work is done by `stylelab kernel install --test-packages` (kernel/setup), the one source of truth;
# this script only builds the CLI first.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v go >/dev/null; then
	echo "install-deps: the go command is not on PATH: install Go 1.26 and add its bin folder to PATH" >&2
	exit 1
fi
go build -o bin/stylelab ./cmd/stylelab
exec ./bin/stylelab kernel install --test-packages "$@"
