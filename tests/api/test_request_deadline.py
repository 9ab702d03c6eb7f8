"""No request outlives NST_API_REQUEST_TIMEOUT_SECONDS: the real gunicorn configuration.

Found from outside (issue 21, failure 6): a submit waited on something that never answered for
over 8 minutes, the log said nothing, and gunicorn's graceful shutdown waited on it. Now a
request still waiting at the deadline is answered 503 ``server_timeout`` and the log shows the
stack its greenlet was waiting in. Reproduced here with object storage that accepts
connections and never answers: botocore's own read timeout (30 s) and retry budget (30 s)
would otherwise hold the request for a minute or more.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.api.servers import LoggedGunicorn
from tests.fixtures.live import API_KEY, Env
from tests.images import content_bytes, style_bytes

DEADLINE_SECONDS = 3


class SilentServer:
    """A TCP server that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_storage_api(service_env: Env, tmp_path: Path) -> Iterator[LoggedGunicorn]:
    silent = SilentServer()
    env = {
        **service_env.process_env(),
        "HOME": str(tmp_path),
        "NST_S3_ENDPOINT_URL": f"http://127.0.0.1:{silent.port}",
        "NST_API_BODY_TIMEOUT_SECONDS": "1",
        "NST_API_REQUEST_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
        "NST_STORAGE_RETRY_SECONDS": "1",
    }
    server = LoggedGunicorn(env, tmp_path / "api.log")
    yield server
    silent.close()  # first: the abandoned uploads then fail at once instead of at their timeout
    server.stop()


def test_a_submit_stuck_on_storage_gets_503_and_the_log_shows_where_it_waited(
    silent_storage_api: LoggedGunicorn,
) -> None:
    files = [
        ("content", ("c.jpg", content_bytes(48), "image/jpeg")),
        ("style", ("s.jpg", style_bytes(48), "image/jpeg")),
    ]
    started = time.monotonic()
    response = requests.post(
        f"{silent_storage_api.url}/v1/jobs",
        files=files,
        data={"size": "32"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "server_timeout"
    assert response.headers["Retry-After"].isdigit()
    assert elapsed < 30  # storage alone would have held it for a minute
    log = silent_storage_api.log.read_text()
    assert "POST /v1/jobs: no answer after 3s" in log
    stack = log.partition("it was waiting here:")[2]
    assert "_store_inputs" in stack, log[-3000:]
    # the worker is free again: other requests are answered at once
    assert requests.get(f"{silent_storage_api.url}/healthz", timeout=5).status_code == 200
