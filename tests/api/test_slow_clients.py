"""Slow clients cannot starve the API: the real gunicorn configuration, real sockets.

Found from outside: 12 connections sending headers or a body at one byte a second held every
gunicorn thread, and ``/healthz`` timed out for as long as they lasted. The API now runs on
gevent workers (``api/gunicorn_conf.py``): 300 such connections leave it answering at once,
headers that do not arrive in time are cut off, a body that does not arrive in time gets a
JSON 408, and gunicorn's own error pages (an over-long URL) are the API's JSON too.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from contract.jobs import Job, JobStatus
from shared.storage import JobKeys
from tests.api.servers import LoggedGunicorn
from tests.fixtures.live import API_KEY, Env
from tests.helpers import wait_for
from tests.images import content_bytes, style_bytes

SLOW_CLIENTS = 300
HEADER_SECONDS = 3
BODY_SECONDS = 3


def gunicorn(env: Env, folder: Path, header_seconds: float) -> LoggedGunicorn:
    """One gevent worker with these header and short body timeouts, and its own HOME."""
    home = folder / "home"
    home.mkdir()
    settings = {
        **env.process_env(),
        "HOME": str(home),
        "NST_API_HEADER_TIMEOUT_SECONDS": str(header_seconds),
        "NST_API_BODY_TIMEOUT_SECONDS": str(BODY_SECONDS),
    }
    return LoggedGunicorn(settings, folder / "api.log")


@pytest.fixture
def api(service_env: Env, tmp_path: Path) -> Iterator[LoggedGunicorn]:
    """The API with short header and body timeouts."""
    server = gunicorn(service_env, tmp_path, HEADER_SECONDS)
    yield server
    server.stop()


class Trickle:
    """Many connections, each sent one more byte every second from one thread."""

    def __init__(self, sockets: list[socket.socket], payload: bytes) -> None:
        self.sockets, self.payload = sockets, payload
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for offset in range(len(self.payload)):
            for sock in self.sockets:
                with contextlib.suppress(OSError):  # the server cut it off: that is allowed
                    sock.send(self.payload[offset : offset + 1])
            if self.stop.wait(1.0):
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def healthz_seconds(api: LoggedGunicorn) -> float:
    """How long /healthz took (at most 20 s: a server starved that long has failed)."""
    started = time.monotonic()
    assert requests.get(f"{api.url}/healthz", timeout=20).status_code == 200
    return time.monotonic() - started


def answer_before_close(sock: socket.socket) -> bytes:
    """What the server sent before it closed the connection.

    A server that closes while bytes it never read wait in its receive buffer resets the
    connection (RST) instead of closing it (FIN): both are the server hanging up.
    """
    try:
        return sock.recv(1024)
    except ConnectionResetError:
        return b""


def test_300_clients_sending_headers_a_byte_a_second_leave_healthz_answering(
    service_env: Env, tmp_path: Path
) -> None:
    """With a header timeout of a minute, a starved server would keep /healthz waiting until
    the slow clients were cut off: 60 s. Answered in a few seconds even on a loaded machine."""
    api = gunicorn(service_env, tmp_path, header_seconds=60)
    slow = [api.connect() for _ in range(SLOW_CLIENTS)]
    trickle = Trickle(slow, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60)
    try:
        latencies = [healthz_seconds(api) for _ in range(10)]
        assert max(latencies) < 10, latencies
    finally:
        trickle.close()
        api.stop()


def test_headers_that_do_not_arrive_in_time_are_cut_off(api: LoggedGunicorn) -> None:
    sock = api.connect()
    trickle = Trickle([sock], b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60)
    try:
        started = time.monotonic()
        assert answer_before_close(sock) == b""  # closed by the server, no answer
        # not before the timeout, and long before the trickle's ~100 bytes (a second each) end
        assert HEADER_SECONDS - 0.5 <= time.monotonic() - started <= HEADER_SECONDS + 30
    finally:
        trickle.close()


def test_a_body_that_does_not_arrive_in_time_gets_a_json_408(api: LoggedGunicorn) -> None:
    sock = api.connect()
    head = (
        "POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 10000\r\n\r\n"
    )
    sock.sendall(head.encode())
    # A byte a second, then nothing: bytes sent after the server gave up would reset the
    # connection before the answer could be read.
    trickle = Trickle([sock], b"--xyz\r\n"[: BODY_SECONDS - 1])
    try:
        reply = sock.makefile("rb").read()
    finally:
        trickle.close()
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"408", reply[:200]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_timeout"


def test_an_over_long_url_gets_the_apis_json_414(api: LoggedGunicorn) -> None:
    response = requests.get(f"{api.url}/v1/jobs/{'x' * 20000}", timeout=10)
    assert response.status_code == 414
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "uri_too_long"


def test_each_api_has_no_shared_control_socket(api: LoggedGunicorn) -> None:
    assert healthz_seconds(api) < 20
    assert not (Path(api.env["HOME"]) / ".gunicorn").exists()
    assert not os.path.exists(Path(api.env["HOME"]) / ".gunicorn" / "gunicorn.ctl")


def test_a_client_that_stops_reading_its_answer_is_cut_off(
    service_env: Env, tmp_path: Path
) -> None:
    """Found while attacking issue 21's fixes: a client that never read a 50 MB result (file
    storage streams it) held its connection, and a greenlet, for as long as it liked; each
    socket write now waits at most NST_API_BODY_TIMEOUT_SECONDS."""
    files_dir = tmp_path / "files"
    env = {
        **service_env.process_env(),
        "HOME": str(tmp_path),
        "NST_STORAGE_URL": f"file://{files_dir}",
        "NST_API_BODY_TIMEOUT_SECONDS": str(BODY_SECONDS),
    }
    server = LoggedGunicorn(env, tmp_path / "api.log")
    sock = socket.socket()
    try:
        job_id = finished_job_with_a_large_result(server, service_env, files_dir)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once
        sock.settimeout(10)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(
            f"GET /v1/jobs/{job_id}/result HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {API_KEY}\r\n\r\n".encode()
        )
        started = time.monotonic()
        assert sock.recv(12).startswith(b"HTTP/1.1 200")
        client_port = sock.getsockname()[1]
        workers = psutil.Process(server.proc.pid).children()

        def cut_off() -> bool:  # the server closed its side of this connection
            return not any(
                conn.raddr and conn.raddr.port == client_port
                for worker in workers
                for conn in worker.net_connections(kind="tcp")
            )

        wait_for(cut_off, 30, "the server to cut off a client that stopped reading", every=0.2)
        assert time.monotonic() - started >= BODY_SECONDS - 0.5
        assert "one read or write stalled" in server.log.read_text()
    finally:
        sock.close()
        server.stop()


def finished_job_with_a_large_result(server: LoggedGunicorn, env: Env, files_dir: Path) -> str:
    """A job marked succeeded whose stored result is 50 MB (more than any socket buffers)."""
    files = [
        ("content", ("c.jpg", content_bytes(48), "image/jpeg")),
        ("style", ("s.jpg", style_bytes(48), "image/jpeg")),
    ]
    auth = {"Authorization": f"Bearer {API_KEY}"}
    response = requests.post(
        f"{server.url}/v1/jobs", files=files, data={"size": "32"}, headers=auth, timeout=30
    )
    job_id = str(response.json()["id"])

    def succeeded(job: Job) -> Job:
        job.status, job.finished_at = JobStatus.SUCCEEDED, time.time()
        return job

    env.store().update(job_id, succeeded)
    result = files_dir / JobKeys(job_id).result
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_bytes(os.urandom(50 * 2**20))
    return job_id
