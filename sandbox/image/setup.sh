#!/usr/bin/env bash
# Makes sure the Debian/Ubuntu packages a make target needs are installed, so `make run` and
# `make test` work on a fresh machine with Go, make and Docker. Usage: setup.sh TARGET, where
# TARGET is one of
#   minimal  the minimal agent image (make image-minimal, and the tests): bash-static, busybox-static
#   full     the full agent image's Debian root filesystem (make image): mmdebstrap and
#            debian-archive-keyring, plus uidmap when not root (mmdebstrap's unshare mode)
# Every package present: says nothing. Some missing and this is root with apt-get: installs
# them and says so in one line. Otherwise: stops (exit 1) with one line naming the command.
# Sandbox/image/setup_test.go runs it against a stubbed dpkg, apt-get and id.
set -euo pipefail

target=${1:-}
case $target in
  minimal) pkgs=(bash-static busybox-static); why="the minimal agent image" ;;
  full)
    pkgs=(mmdebstrap debian-archive-keyring)
    [ "$(id -u)" = 0 ] || pkgs+=(uidmap)
    why="the full agent image's root filesystem" ;;
  *) echo "setup: usage: setup.sh minimal|full" >&2; exit 2 ;;
esac

# installed: dpkg knows the package as installed (not merely configured or removed).
installed() {
  command -v dpkg >/dev/null 2>&1 && dpkg -s "$1" 2>/dev/null | grep -qx 'Status: install ok installed'
}

missing=()
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y ${missing[*]}"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: ${missing[*]} needed for $why; install with: sudo $cmd" >&2
  exit 1
fi

echo "setup: installing ${missing[*]} (needed for $why): $cmd"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet (or stale ones): update once and retry.
if ! apt-get install -y -q "${missing[@]}" >"$log" 2>&1; then
  if ! { apt-get update -q && apt-get install -y -q "${missing[@]}"; } >"$log" 2>&1; then
    echo "setup: $cmd failed; its last lines:" >&2
    tail -n 5 "$log" >&2
    exit 1
  fi
fi
