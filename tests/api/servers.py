"""The API as deployed, for tests that need its real sockets and gevent: gunicorn, logged."""

from __future__ import annotations

import socket
from pathlib import Path

from harness.api_server import gunicorn


class LoggedGunicorn:
    """``gunicorn -c python:api.gunicorn_conf`` (one gevent worker) with its log kept.

    Started by ``harness.api_server.gunicorn`` and answering ``/healthz`` once built; this
    adds what the API tests read: the port, the log's path, the environment it ran with.
    """

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.server = gunicorn(env, log)
        self.proc = self.server.proc
        self.url = self.server.url
        self.port = self.server.port

    def connect(self) -> socket.socket:
        """A raw connection, for clients that misbehave below HTTP."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self) -> None:
        self.server.stop(timeout=30)
