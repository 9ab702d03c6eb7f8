"""Deadlines for request bodies and for whole requests, and whether the process runs on gevent.

A client that sends its body a byte at a time would otherwise hold its connection for as long
as it likes; under gevent each read can wait only for what is left of the deadline. A request
that waits on something that never answers (issue 21: a submit held for 8 minutes by a stuck
Redis pub/sub connection, with nothing in the log) is cut off at ``NST_API_REQUEST_TIMEOUT_
SECONDS``: the client gets 503 ``server_timeout``, and the log gets the stack the request's
greenlet was waiting in, which is what an operator needs to find the cause.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import RequestTimeout

from contract.errors import ServerTimeout

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
log = logging.getLogger(__name__)


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


class RequestDeadline:
    """WSGI middleware: the app must produce its answer within ``seconds`` (else 503).

    Needs gevent: the timeout is raised in the request's greenlet wherever it waits (a socket,
    a lock, a pool), so its traceback is the stuck stack, logged here. A streamed body (event
    streams) is produced after the app returns and is bounded by its own loop, not by this.
    """

    def __init__(self, app: WSGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        import gevent

        timer = gevent.Timeout(self.seconds)
        timer.start()
        try:
            return self.app(environ, start_response)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            where = "".join(traceback.format_tb(exc.__traceback__))
            log.error(
                "%s %s: no answer after %gs, answered 503; it was waiting here:\n%s",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
                self.seconds,
                where,
            )
            return _server_timeout(start_response)
        finally:
            timer.close()


def _server_timeout(start_response: Callable[..., Any]) -> list[bytes]:
    """The API's JSON 503, replacing any headers the app had started (WSGI's exc_info)."""
    error = ServerTimeout("the request took too long and was stopped; try again")
    body = json.dumps({"error": error.body()}).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        ("Retry-After", "5"),
    ]
    start_response(f"{error.http_status} Service Unavailable", headers, sys.exc_info())
    return [body]
