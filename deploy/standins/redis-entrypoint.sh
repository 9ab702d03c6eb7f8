#!/bin/sh
# As the official redis image's entrypoint does: `redis-server` started with options only (no
# configuration file) runs with protected mode off. Without a file Redis would accept only
# loopback clients, and every other container on the compose network would be refused.
set -e
if [ "$1" = redis-server ] && { [ $# -eq 1 ] || [ "${2#-}" != "$2" ]; }; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
