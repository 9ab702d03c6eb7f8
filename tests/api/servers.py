"""The API as deployed, for tests that need its real sockets and gevent: gunicorn, logged."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import requests

from tests.fixtures.services import REPO
from tests.helpers import free_port, wait_for


class LoggedGunicorn:
    """``gunicorn -c python:api.gunicorn_conf`` (one gevent worker) with its log kept."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.env = env = {**env, "NST_API_HOST": "127.0.0.1", "NST_API_PORT": str(self.port),
               "NST_API_WORKERS": "1"}  # fmt: skip
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [gunicorn, "-c", "python:api.gunicorn_conf", "api.app:create_app()"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(self._answers, 60, "gunicorn to answer")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-2000:]
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def connect(self) -> socket.socket:
        """A raw connection, for clients that misbehave below HTTP."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
