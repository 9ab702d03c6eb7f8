"""The real processes a benchmark starts (gunicorn, redis-server, moto, workers), and waits.

One place for what every service benchmark does before it measures anything: a free port,
a process whose whole group is stopped afterwards, and a wait that names what never happened.
Only the standard library and requests, so `benchmarks/gpu/e2e.py` can use it on a machine
that carries nothing else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
# Every request a benchmark sends: (connect, read) seconds. Without one, a request the server
# never answers hangs the whole benchmark (issue 21: scale.py waited 8 minutes on one submit);
# the read part is above the API's own deadline (NST_API_REQUEST_TIMEOUT_SECONDS, 120 s).
HTTP_TIMEOUT = (10.0, 150.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll condition every 0.1 s; raise after timeout seconds naming what never happened."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def answers(url: str) -> bool:
    """The server at url is up and not failing (any answer under 500)."""
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run args for the block's duration, output appended to log; then SIGTERM its process
    group, SIGKILL if it is still there after a minute."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_gunicorn(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """gunicorn with args, output discarded; returns once /healthz answers on port."""
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 60, "gunicorn")
    return proc
