#!/usr/bin/env bash
# The local base image for machines that reach no image registry: a Debian bookworm root file
# system made by debootstrap from this machine's Debian mirror (Python 3.11, venv), carrying
# this machine's CA bundle and a pip configuration that uses it, imported with `docker import`.
# It stands in for python:3.11-slim-bookworm (the Dockerfiles' PYTHON_IMAGE build argument).
#
#   deploy/offline/base-image.sh [IMAGE]      # default nst-python:3.11-bookworm; skipped if present
#
# Needs root (debootstrap), debootstrap and a running Docker daemon.
set -euo pipefail

IMAGE=${1:-nst-python:3.11-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE exists (docker rmi $IMAGE to rebuild it)"
  exit 0
fi

work=$(mktemp -d /var/tmp/nst-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
echo "debootstrap bookworm from $MIRROR (a few minutes)"
debootstrap --variant=minbase \
  --include=python3,python-is-python3,python3-venv,ca-certificates \
  bookworm "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log"; exit 1; }

# This machine's CA bundle (it may hold a TLS-inspecting proxy's CA) under its own name, so
# that a later update-ca-certificates in a derived image cannot drop it, and as the default.
install -m 0644 "$CA_BUNDLE" "$rootfs/etc/ssl/certs/host-ca-bundle.crt"
install -m 0644 "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
cat >"$rootfs/etc/pip.conf" <<PIPCONF
# Written by deploy/offline/base-image.sh: pip reaches PyPI through this machine's CAs.
[global]
cert = /etc/ssl/certs/host-ca-bundle.crt
timeout = 180
disable-pip-version-check = true
PIPCONF
# What the builder's own pip uses for its index, when it is a network index (file:// indexes
# on the build machine are invisible inside a container and are left out).
for key in index-url extra-index-url; do
  value=$(pip config get "global.$key" 2>/dev/null || true)
  value=$(tr ' ' '\n' <<<"$value" | grep -E '^https?://' | tr '\n' ' ' || true)
  [ -n "${value// /}" ] && echo "$key = $value" >>"$rootfs/etc/pip.conf"
done
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/tmp/*

version=$(chroot "$rootfs" python3 -c 'import platform; print(platform.python_version())')
# Through a file, not a pipe: a failed tar must not leave an empty image behind.
tar --numeric-owner -C "$rootfs" -cf "$work/rootfs.tar" .
docker import \
  --change 'ENV LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/host-ca-bundle.crt' \
  --change 'CMD ["python3"]' \
  --change "LABEL org.opencontainers.image.description=\"Debian bookworm (debootstrap) with Python $version, local stand-in for python:3.11-slim-bookworm\"" \
  "$work/rootfs.tar" "$IMAGE" >/dev/null
echo "base image $IMAGE: Debian bookworm, Python $version"
