"""A deadline for request bodies, and whether the process runs on gevent.

A client that sends its body a byte at a time would otherwise hold its connection for as long
as it likes; under gevent each read can wait only for what is left of the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import RequestTimeout

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def gevent_active() -> bool:
    """True inside a gevent worker (sockets patched): then blocking reads can be given deadlines."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("socket"))


class BodyDeadline:
    """WSGI middleware: a request body must arrive whole within ``seconds`` (else 408).

    Needs gevent: each read waits at most for what is left of the deadline.
    """

    def __init__(self, app: WSGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ["wsgi.input"] = _DeadlineReader(
            environ["wsgi.input"], time.monotonic() + self.seconds
        )
        return self.app(environ, start_response)


class _DeadlineReader:
    """A ``wsgi.input`` whose reads fail with 408 once the deadline has passed."""

    def __init__(self, stream: Any, deadline: float) -> None:
        self.stream = stream
        self.deadline = deadline

    def _within(self, read: Callable[..., Any], *args: Any) -> Any:
        import gevent

        left = self.deadline - time.monotonic()
        timeout = RequestTimeout("the request body did not arrive in time")
        if left <= 0:
            raise timeout
        with gevent.Timeout(left, timeout):
            return read(*args)

    def read(self, size: int = -1) -> bytes:
        return bytes(self._within(self.stream.read, size))

    def readline(self, size: int = -1) -> bytes:
        return bytes(self._within(self.stream.readline, size))

    def readinto(self, buffer: Any) -> int:
        """Werkzeug reads through this; gunicorn's body has no readinto, so read and copy."""
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def __iter__(self) -> Any:
        return iter(self.readline, b"")
