#!/usr/bin/env bash
# Prints the tag of the full agent image's base: Debian bookworm with the agent's tools and
# the uid 1000 user `node`, built once and kept (a second `make image` finds it). Messages go
# to stderr, one line each. The base is made one of two equal ways, one per machine, and the
# script says which:
#   mmdebstrap  a root filesystem from Debian's package mirror (no image registry needed),
#               cached as a tarball under ${XDG_CACHE_HOME:-~/.cache}/nanoclaw, then `docker import`
#   registry    FROM debian:bookworm-slim plus apt-get (Dockerfile.base), where a registry answers
# NANOCLAW_IMAGE_BASE=mmdebstrap|registry picks one; by default the registry is used when
# debian:bookworm-slim is present or can be pulled, else mmdebstrap.
# NANOCLAW_DEBIAN_MIRROR (http://deb.debian.org/debian) is the mirror mmdebstrap reads.
# `base.sh --cached` only prints the tag of a base already built (exit 1 if there is none).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# The agent's toolbox. Changing it (or this script) names a new base.
packages="bash coreutils findutils grep sed gawk diffutils procps less git python3 ripgrep jq sqlite3 curl ca-certificates tzdata"

sum=$(cat "$here/base.sh" "$here/Dockerfile.base" | sha256sum | cut -c1-12)
tag="nanoclaw-agent-base:$sum"
if docker image inspect "$tag" >/dev/null 2>&1; then
  [ "${1:-}" = --cached ] || echo "image: base $tag (cached)" >&2
  echo "$tag"
  exit 0
fi
[ "${1:-}" = --cached ] && exit 1

how=${NANOCLAW_IMAGE_BASE:-auto}
if [ "$how" = auto ]; then
  if docker image inspect debian:bookworm-slim >/dev/null 2>&1 ||
     timeout 60 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    how=registry
  else
    how=mmdebstrap
  fi
fi

case $how in
registry)
  echo "image: base from the registry's debian:bookworm-slim (Dockerfile.base)" >&2
  docker build -q --build-arg "PACKAGES=$packages" -t "$tag" -f "$here/Dockerfile.base" "$here" >/dev/null
  ;;
mmdebstrap)
  echo "image: base from mmdebstrap (no registry needed): Debian bookworm from ${NANOCLAW_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
  "$here/setup.sh" full >&2
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/nanoclaw"
  tarball="$cache/rootfs-$sum.tar"
  if [ ! -s "$tarball" ]; then
    mkdir -p "$cache"
    mirror=${NANOCLAW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
    security=${NANOCLAW_DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}
    start=$(date +%s)
    # Documentation, man pages and translations are left out (nobody reads them in a
    # sandbox); the package lists are dropped after installing, as Docker's images do.
    mmdebstrap --quiet --format=tar --variant=apt --include="${packages// /,}" \
      --aptopt='APT::Install-Recommends "false"' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
      --customize-hook='echo "node:x:1000:1000:node:/home/node:/bin/bash" >> "$1/etc/passwd"' \
      --customize-hook='echo "node:x:1000:" >> "$1/etc/group"' \
      --customize-hook='echo "node:*:20000:0:99999:7:::" >> "$1/etc/shadow"' \
      --customize-hook='mkdir -p "$1/home/node" "$1/app" && chown 1000:1000 "$1/home/node" && chmod 0700 "$1/home/node"' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log' \
      bookworm "$tarball.tmp" \
      "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main" >&2
    mv "$tarball.tmp" "$tarball"
    echo "image: mmdebstrap took $(( $(date +%s) - start )) s; rootfs cached at $tarball" >&2
  fi
  docker import --change 'ENV LANG=C.UTF-8' --change 'WORKDIR /' "$tarball" "$tag" >/dev/null
  ;;
*) echo "image: NANOCLAW_IMAGE_BASE must be mmdebstrap or registry, not $how" >&2; exit 2 ;;
esac
echo "$tag"
