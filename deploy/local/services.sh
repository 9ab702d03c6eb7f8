#!/usr/bin/env bash
# One-machine service control for `make up`, `make down`, `make demo` and `make test`.
# Starts only what is not already running and records what it started in .run/*.pid,
# so `down` stops exactly that and nothing else.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=$(realpath -m "${NST_RUN_DIR:-.run}")  # pid files, logs, file:// storage, Redis data
PY=${PY:-.venv/bin/python}
mkdir -p "$RUN"
export NST_REDIS_URL="${NST_REDIS_URL:-redis://127.0.0.1:6379/0}"
export NST_API_PORT="${NST_API_PORT:-8000}"

redis_answers() { "$PY" -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" "$NST_REDIS_URL" 2>/dev/null; }
# A recorded process that still runs. Not `kill -0`: a process killed a moment ago that nobody has
# reaped yet (a zombie) still answers it, and `up` would then start nothing in its place.
running() { local state; state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* && $state != X* ]]; }
alive() { [ -f "$RUN/$1.pid" ] && running "$(cat "$RUN/$1.pid")"; }
wait_until() { # wait_until SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $what" >&2; return 1; }
    sleep 0.2
  done
}

ensure_redis() {
  redis_answers && return 0
  command -v redis-server >/dev/null || { echo "no Redis at $NST_REDIS_URL and redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
  local port; port=$("$PY" -c "import sys,urllib.parse as u; print(u.urlparse(sys.argv[1]).port or 6379)" "$NST_REDIS_URL")
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --appendonly yes --appendfsync everysec \
    --maxmemory-policy noeviction --dir "$RUN" --pidfile "$RUN/redis.pid" --logfile "$RUN/redis.log"
  wait_until 20 "redis" redis_answers
  echo "started redis on port $port"
}

# Ready, or gone: a worker that cannot start (say, unusable weights) exits with one "cannot start"
# line in its log, and `up` fails with that line instead of waiting out its timeout.
# Logs are appended to across restarts: only lines written since this `up` started count.
worker_log() { tail -n "+$((${WORKER_LOG_START:-0} + 1))" "$RUN/worker.log" 2>/dev/null; }
worker_ready() {
  worker_log | grep -q "ready\." && return 0
  alive worker && return 1
  echo "the worker stopped: $(worker_log | grep -m1 -o 'cannot start: .*' || worker_log | tail -n1)" >&2
  rm -f "$RUN/worker.pid"
  exit 1
}

# Whether another process holds the API port: then gunicorn would fail ("Address already in use")
# while that process answered /readyz, and `up` would report a server that is not ours.
port_free() { "$PY" -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', int(sys.argv[1])))" "$NST_API_PORT" 2>/dev/null; }
api_log() { tail -n "+$((${API_LOG_START:-0} + 1))" "$RUN/api.log" 2>/dev/null; }
# Ready: the gunicorn this `up` started listens (its log says so) and /readyz answers. Gone: fail
# with its reason (the port was taken between the check and its bind, a bad setting, ...).
api_ready() {
  if [ -n "${API_LOG_START:-}" ] && ! api_log | grep -q "Listening at"; then
    alive api && return 1
    echo "the api stopped: $(api_log | grep -m1 -o 'Connection in use.*\|Error: .*' || api_log | tail -n1)" >&2
    rm -f "$RUN/api.pid"
    exit 1
  fi
  "$PY" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "http://127.0.0.1:$NST_API_PORT/readyz" 2>/dev/null
}

up() {
  export NST_AUTH="${NST_AUTH:-off}" NST_STORAGE_URL="${NST_STORAGE_URL:-file://$RUN/storage}"
  # Built-in styles: the paintings of ../shared/images beside the checkout where it exists,
  # else the two of examples/, so the web page offers presets on any fresh clone.
  if [ -z "${NST_PRESETS_DIR:-}" ] && [ -d ../shared/images ]; then
    export NST_PRESETS_DIR="$(cd ../shared/images && pwd)" NST_PRESETS="${NST_PRESETS-starry_night,the_scream,shipwreck,woman-with-hat-matisse}"
  fi
  export NST_PRESETS_DIR="${NST_PRESETS_DIR:-$PWD/examples}" NST_PRESETS="${NST_PRESETS-starry_night,the_scream}"
  ensure_redis
  if ! alive api; then
    port_free || { echo "cannot start the api: port $NST_API_PORT is already in use by a process \`make up\` did not start; stop it or set NST_API_PORT" >&2; exit 1; }
    API_LOG_START=$( (wc -l <"$RUN/api.log") 2>/dev/null || echo 0)
    NST_API_HOST=127.0.0.1 nohup "$(dirname "$PY")/gunicorn" -c python:api.gunicorn_conf 'api.app:create_app()' \
      >>"$RUN/api.log" 2>&1 & echo $! >"$RUN/api.pid"
    echo "started api on http://127.0.0.1:$NST_API_PORT"
  fi
  if ! alive worker; then
    WORKER_LOG_START=$( (wc -l <"$RUN/worker.log") 2>/dev/null || echo 0)
    nohup "$PY" -m celery -A worker.main:app worker --queues "${NST_QUEUE:-nst-gpu}" --concurrency 1 \
      --pool prefork --hostname "local@%h" --without-gossip --without-mingle --loglevel INFO \
      >>"$RUN/worker.log" 2>&1 & echo $! >"$RUN/worker.pid"
    echo "started worker (log: $RUN/worker.log)"
  fi
  # Webhooks (README "Webhooks") need a secret and their own consumer: started with the secret.
  if [ -n "${NST_WEBHOOK_SECRET:-}" ] && ! alive webhooks; then
    nohup "$PY" -m celery -A worker.webhooks.consumer:app worker --queues "${NST_WEBHOOK_QUEUE:-nst-webhooks}" \
      --concurrency 4 --pool prefork --hostname "webhooks@%h" --without-gossip --without-mingle \
      --loglevel INFO >>"$RUN/webhooks.log" 2>&1 & echo $! >"$RUN/webhooks.pid"
    echo "started the webhook consumer (log: $RUN/webhooks.log)"
  fi
  wait_until 60 "the api at :$NST_API_PORT (see $RUN/api.log)" api_ready
  wait_until 180 "the worker (see $RUN/worker.log)" worker_ready
}

down() {
  if ! compgen -G "$RUN/*.pid" >/dev/null; then
    echo "nothing to stop: no process ids in $RUN (did \`make up\` run with another NST_RUN_DIR?)" >&2
    return 0
  fi
  for name in webhooks worker api redis; do
    if alive "$name"; then
      kill "$(cat "$RUN/$name.pid")" && echo "stopped $name"
      local pid; pid=$(cat "$RUN/$name.pid")
      wait_until 90 "$name to stop" eval "! running $pid" || kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$name.pid"
  done
}

"$@"
