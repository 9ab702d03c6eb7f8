"""Slow clients against the API: threaded gunicorn (as shipped before) vs gevent workers (now).

N connections send request headers one byte a second while a client asks ``/healthz`` every
100 ms for 10 s with a 2 s timeout. Reported per configuration and N: answered share, p50 and
max latency. The old configuration (``--workers 2 --threads 4``) is the one the outside attack
froze with 12 connections; the new one is ``api/gunicorn_conf.py`` (gevent, 1000 connections
per worker, headers within NST_API_HEADER_TIMEOUT_SECONDS). Run from the repository root:

    .venv/bin/python benchmarks/slow_clients.py                  # N = 12, 100, 300, 900
    .venv/bin/python benchmarks/slow_clients.py --clients 12 --seconds 4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.api_server import REPO_CONFIG, gunicorn  # noqa: E402
from harness.arguments import int_list  # noqa: E402
from harness.processes import Process  # noqa: E402

CONFIGS = {
    "threads (2 workers x 4 threads, before)": ["--workers", "2", "--threads", "4"],
    "gevent (api/gunicorn_conf.py, now)": list(REPO_CONFIG),
}


def start(args: list[str], home: Path) -> Process:
    """gunicorn with args (two workers), its log and its own HOME in home."""
    env = {
        **os.environ,
        "HOME": str(home),
        "NST_AUTH": "off",
        "NST_API_WORKERS": "2",
        "NST_STORAGE_URL": f"file://{home}/storage",
    }
    return gunicorn(env, home / "api.log", args=args)


def trickle(port: int, count: int, opened: threading.Event, stop: threading.Event) -> None:
    """Open count connections and send each one header byte a second until stopped; set
    opened once every connection has sent its first byte."""
    sockets = []
    for _ in range(count):
        with contextlib.suppress(OSError):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    payload = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    for offset in range(len(payload)):
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.send(payload[offset : offset + 1])
        opened.set()
        if stop.wait(1.0):
            break
    for sock in sockets:
        sock.close()


def probe(port: int, seconds: float) -> dict[str, float]:
    latencies, failures = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).raise_for_status()
            latencies.append(time.monotonic() - started)
        except requests.RequestException:
            failures += 1
        time.sleep(0.1)
    answered = len(latencies) / max(1, len(latencies) + failures)
    return {
        "answered": round(answered, 3),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "max_ms": round(1000 * max(latencies), 1) if latencies else None,
    }  # type: ignore[return-value]


def measure(name: str, args: list[str], clients: int, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as home, start(args, Path(home)) as api:
        opened, stop = threading.Event(), threading.Event()
        slow = threading.Thread(target=trickle, args=(api.port, clients, opened, stop), daemon=True)
        slow.start()
        if not opened.wait(timeout=120):
            raise TimeoutError(f"{clients} slow connections did not open in 120 s")
        result = probe(api.port, seconds)
        stop.set()
        slow.join(timeout=10)
    return {"config": name, "slow_clients": clients, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int_list, default=[12, 100, 300, 900])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rows = [
        measure(name, config, count, args.seconds)
        for name, config in CONFIGS.items()
        for count in args.clients
    ]
    print("| configuration | slow clients | /healthz answered | p50 ms | max ms |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['config']} | {row['slow_clients']} | {row['answered']:.0%} | "
            f"{row['p50_ms']} | {row['max_ms']} |"
        )
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
