"""How many open event streams one API process holds, and what each one costs.

One gunicorn gevent worker (``api/gunicorn_conf.py``, NST_API_WORKERS=1) on the real Redis
with file storage. N raw sockets each open ``GET /v1/jobs/{id}/events`` on one queued job and
keep it open; then the benchmark measures the worker process's resident memory per stream,
``/healthz`` latency while they are open, Redis connections (one subscription per process,
not per stream), and the time until every stream has the ``cancelled`` event after a single
DELETE. Run from the repository root:

    .venv/bin/python benchmarks/streams.py                 # N = 100, 500, 950
    .venv/bin/python benchmarks/streams.py --streams 50
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import selectors
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import redis
import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.api_server import gunicorn  # noqa: E402
from harness.arguments import int_list  # noqa: E402
from harness.processes import Process  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/12"


def start_api(folder: Path, prefix: str) -> Process:
    """One gevent worker (the repository's gunicorn config), its log in folder."""
    env = {
        **os.environ,
        "NST_AUTH": "off",
        "NST_API_WORKERS": "1",
        "NST_REDIS_URL": REDIS_URL,
        "NST_KEY_PREFIX": prefix,
        "NST_QUEUE": prefix,
        "NST_STORAGE_URL": f"file://{folder}",
        "NST_EVENTS_HEARTBEAT_SECONDS": "15",
        # one caller opens them all: lift the per-key cap (what a stream costs is measured)
        "NST_MAX_STREAMS_PER_KEY": "100000",
    }
    return gunicorn(env, folder / "api.log")


def queued_job(url: str) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (90, 120, 200)).save(buffer, format="JPEG")
    files = [("content", ("c.jpg", buffer.getvalue())), ("style", ("s.jpg", buffer.getvalue()))]
    response = requests.post(f"{url}/v1/jobs", files=files, data={"size": "32"}, timeout=30)
    response.raise_for_status()
    return str(response.json()["id"])


def open_streams(port: int, job_id: str, count: int) -> list[socket.socket]:
    request = (
        f"GET /v1/jobs/{job_id}/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(request)
        sockets.append(sock)
    return sockets


def read_until(sockets: list[socket.socket], marker: bytes, timeout: float) -> list[float]:
    """Seconds until each socket has received ``marker`` (inf for those that never did)."""
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    seen: dict[socket.socket, bytes] = {}
    done: dict[socket.socket, float] = {}
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    while len(done) < len(sockets) and time.monotonic() - started < timeout:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj  # type: ignore[assignment]
            with contextlib.suppress(BlockingIOError):
                seen[sock] = seen.get(sock, b"") + sock.recv(65536)
            if sock not in done and marker in seen[sock]:
                done[sock] = time.monotonic() - started
                selector.unregister(sock)
    selector.close()
    return [done.get(sock, float("inf")) for sock in sockets]


def measure(count: int) -> dict[str, object]:
    prefix = f"streams-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as folder:
        api = start_api(Path(folder), prefix)
        url, port = api.url, api.port
        try:
            worker = psutil.Process(api.pid).children()[0]
            job_id = queued_job(url)
            before = worker.memory_info().rss
            clients_before = _redis_clients()
            sockets = open_streams(port, job_id, count)
            first = read_until(sockets, b"event: status", 60)
            rss = worker.memory_info().rss
            clients = _redis_clients()
            health = [_healthz_ms(url) for _ in range(20)]
            started = time.monotonic()
            requests.post(f"{url}/v1/jobs/{job_id}/cancel", timeout=30)
            ended = read_until(sockets, b"event: cancelled", 60)
            elapsed = time.monotonic() - started
            for sock in sockets:
                sock.close()
        finally:
            api.stop(timeout=30)
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"*{prefix}*"):
                client.delete(key)
    opened = sum(t != float("inf") for t in first)
    return {
        "streams": count,
        "opened": opened,
        "kib_per_stream": round((rss - before) / 1024 / max(opened, 1), 1),
        "redis_connections_added": clients - clients_before,
        "healthz_p50_ms": round(statistics.median(health), 1),
        "healthz_max_ms": round(max(health), 1),
        "all_cancelled_events_within_s": (
            round(elapsed, 3) if all(t != float("inf") for t in ended) else None
        ),
    }


def _redis_clients() -> int:
    return int(redis.Redis.from_url(REDIS_URL).info("clients")["connected_clients"])


def _healthz_ms(url: str) -> float:
    started = time.monotonic()
    requests.get(f"{url}/healthz", timeout=10).raise_for_status()
    return (time.monotonic() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int_list, default=[100, 500, 950], help="e.g. 100,500")
    args = parser.parse_args()
    rows = [measure(count) for count in args.streams]
    print(
        "| streams | opened | KiB per stream | Redis connections added | /healthz p50 / max ms "
        "| all got `cancelled` within |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['streams']} | {r['opened']} | {r['kib_per_stream']} | "
            f"{r['redis_connections_added']} | {r['healthz_p50_ms']} / {r['healthz_max_ms']} | "
            f"{r['all_cancelled_events_within_s']} s |"
        )
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
