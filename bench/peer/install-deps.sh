#!/usr/bin/env bash
# Installs what bench/peer/peer.py needs on Debian: PyTorch 1.13 (python3-torch) and the pthread OpenBLAS it is
# run with (libopenblas0-pthread). Idempotent; waits up to 10 minutes for a dpkg lock held by another apt.
# Not part of the test suite (`make bench-peer` runs it).
set -euo pipefail
need=()
for p in python3-torch libopenblas0-pthread; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -eq 0 ]; then
	echo "peer deps: python3-torch and libopenblas0-pthread are installed"
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "peer deps: need root (or sudo) to install ${need[*]}" >&2; exit 1; }
	sudo="sudo"
fi
echo "peer deps: installing ${need[*]} (waiting for the dpkg lock if another apt holds it)"
apt_install() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}"; }
if ! apt_install; then
	$sudo apt-get -o DPkg::Lock::Timeout=600 update
	apt_install
fi
