"""`make up` / `make down` (deploy/local/services.sh) with real processes on this machine.

`up` starts only what is not running (Redis only when none answers) and records each process id;
`down` stops exactly those; a worker that cannot start makes `up` fail with the worker's reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import redis
import requests

from tests.fixtures.live import Env
from tests.fixtures.services import REPO
from tests.helpers import free_port, wait_for

SCRIPT = REPO / "deploy" / "local" / "services.sh"


def _services(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), command], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def _gone(pid: int) -> bool:
    """True once the process has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _pids(run: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in sorted(run.glob("*.pid"))}


@pytest.fixture
def local_env(service_env: Env, tmp_path: Path) -> Iterator[dict[str, str]]:
    """`make up` settings for this test: own run folder, API port, queue; file:// storage."""
    values = {
        k: v
        for k, v in service_env.values.items()
        if k not in {"NST_STORAGE_URL", "NST_S3_ENDPOINT_URL", "NST_AUTH"}
    }
    env = {
        **os.environ,
        **values,
        "PY": sys.executable,
        "NST_RUN_DIR": str(tmp_path / "run"),
        "NST_API_PORT": str(free_port()),
    }
    yield env
    _services("down", env)


def test_up_starts_what_is_missing_once_and_down_stops_only_that(
    local_env: dict[str, str], redis_url: str
) -> None:
    run = Path(local_env["NST_RUN_DIR"])
    up = _services("up", local_env)
    assert up.returncode == 0, up.stderr
    assert "started api" in up.stdout and "started worker" in up.stdout
    assert "started redis" not in up.stdout, "Redis already answered: it must be reused"
    pids = _pids(run)
    assert set(pids) == {"api", "worker"}
    ready = requests.get(f"http://127.0.0.1:{local_env['NST_API_PORT']}/readyz", timeout=5)
    assert ready.status_code == 200
    presets = requests.get(f"http://127.0.0.1:{local_env['NST_API_PORT']}/v1/presets", timeout=5)
    shipped = ["starry_night", "the_scream"]  # examples/, or all four paintings of ../shared
    if (REPO.parent / "shared" / "images").is_dir():
        shipped += ["shipwreck", "woman-with-hat-matisse"]
    assert sorted(p["id"] for p in presets.json()["presets"]) == sorted(shipped)
    assert (run / "storage").is_dir(), "file:// storage defaults into the run folder"

    again = _services("up", local_env)
    assert again.returncode == 0 and "started" not in again.stdout
    assert _pids(run) == pids

    down = _services("down", local_env)
    assert down.returncode == 0
    assert "stopped worker" in down.stdout and "stopped api" in down.stdout
    assert "stopped redis" not in down.stdout
    assert all(_gone(pid) for pid in pids.values())
    assert _pids(run) == {}
    assert redis.Redis.from_url(redis_url).ping(), "the Redis that up reused is left running"

    restarted = _services("up", local_env)  # logs are appended to, never truncated
    assert restarted.returncode == 0, restarted.stderr
    assert (run / "api.log").read_text().count("Listening at") == 2
    assert (run / "worker.log").read_text().count("ready.") == 2

    # Run at once after a SIGKILL, `up` took the dying worker (a zombie not yet reaped, whose
    # id still answers kill -0) for a live one and started none.
    killed = _pids(run)["worker"]
    os.kill(killed, signal.SIGKILL)
    after_kill = _services("up", local_env)
    assert after_kill.returncode == 0, after_kill.stderr
    assert "started worker" in after_kill.stdout and "started api" not in after_kill.stdout
    assert _pids(run)["worker"] != killed
    assert _gone(killed)
    assert _services("down", local_env).returncode == 0


def test_down_with_another_run_folder_says_there_is_nothing_to_stop(
    local_env: dict[str, str], tmp_path: Path
) -> None:
    down = _services("down", {**local_env, "NST_RUN_DIR": str(tmp_path / "elsewhere")})
    assert down.returncode == 0
    assert "nothing to stop" in down.stderr and "NST_RUN_DIR" in down.stderr


def test_up_starts_redis_when_none_answers_and_down_stops_it(
    local_env: dict[str, str], tmp_path: Path
) -> None:
    """The worker is given no weights, so it stops at once (``up`` then fails, as tested below):
    what is proven here is Redis, and a worker that loads its model adds nothing to it."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    env = {**local_env, "NST_REDIS_URL": url, "NST_VGG19_WEIGHTS": str(tmp_path / "absent.h5")}
    up = _services("up", env)
    assert "the worker stopped: cannot start" in up.stderr, up.stderr
    assert "started redis" in up.stdout
    assert redis.Redis.from_url(url).ping()
    redis_pid = _pids(Path(env["NST_RUN_DIR"]))["redis"]

    down = _services("down", env)
    assert "stopped redis" in down.stdout
    assert _gone(redis_pid)
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()


def test_up_fails_with_the_workers_reason_when_it_cannot_start(
    local_env: dict[str, str], tmp_path: Path
) -> None:
    absent = tmp_path / "absent.weights.h5"
    up = _services("up", {**local_env, "NST_VGG19_WEIGHTS": str(absent)})
    assert up.returncode != 0
    assert f"the worker stopped: cannot start: NST_VGG19_WEIGHTS: no file at {absent}" in up.stderr
    assert "timed out" not in up.stderr
    assert "worker" not in _pids(Path(local_env["NST_RUN_DIR"]))


def test_up_fails_with_the_reason_when_another_server_holds_the_api_port(
    local_env: dict[str, str],
) -> None:
    """Another server answering /readyz on the port made `up` say "started api" and exit 0,
    while gunicorn had failed with "Address already in use": jobs went to the other server."""

    class Impostor(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    port = int(local_env["NST_API_PORT"])
    with ThreadingHTTPServer(("127.0.0.1", port), Impostor) as impostor:
        threading.Thread(target=impostor.serve_forever, args=(0.05,), daemon=True).start()
        up = _services("up", local_env)
        impostor.shutdown()
    assert up.returncode != 0
    assert f"port {port} is already in use" in up.stderr, up.stderr
    assert "started api" not in up.stdout
    assert "api" not in _pids(Path(local_env["NST_RUN_DIR"]))


def test_up_with_a_webhook_secret_starts_the_webhook_consumer_and_down_stops_it(
    local_env: dict[str, str], tmp_path: Path
) -> None:
    """Webhooks on one machine needed a consumer that `make up` did not start. (The GPU worker
    is given no weights and stops at once: the consumer, which loads no model, is the subject.)"""
    env = {
        **local_env,
        "NST_WEBHOOK_SECRET": "a-webhook-secret-of-more-than-32-characters",
        "NST_VGG19_WEIGHTS": str(tmp_path / "absent.h5"),
    }
    run = Path(env["NST_RUN_DIR"])
    up = _services("up", env)
    assert "the worker stopped: cannot start" in up.stderr, up.stderr
    assert "started the webhook consumer" in up.stdout
    consumer = _pids(run)["webhooks"]
    wait_for(lambda: "ready." in (run / "webhooks.log").read_text(), 120, "the webhook consumer")
    down = _services("down", env)
    assert "stopped webhooks" in down.stdout and _gone(consumer)
