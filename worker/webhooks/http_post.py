"""One webhook POST: a deadline for the whole attempt, no redirects, only public addresses.

**A deadline, not a read timeout.** A socket timeout bounds each read, so a receiver that sends
its answer one byte every few seconds never trips it and could hold a consumer for as long as it
likes. Each attempt here has one deadline (NST_WEBHOOK_TIMEOUT_SECONDS from its start): a timer
shuts the attempt's sockets down when it passes, which ends whatever read, write or TLS
handshake is blocked, and the attempt counts as "no answer in time". The Celery soft time limit
(``celery_app``) is the backstop for what a socket shutdown cannot end (a resolver that hangs).

**Only public addresses (SSRF guard).** The address check runs inside the connection, on the
very addresses the socket is opened to, right before it connects: checking a name at submit and
letting the HTTP library resolve it again later would let DNS answer differently the second time
(DNS rebinding). Redirects are not followed (a ``Location`` could point anywhere): a 3xx is a
failed attempt. urllib3 is used directly, not requests, because requests would also honour
``HTTP(S)_PROXY`` variables, which would move the connection, and so the check, to the proxy.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import certifi
from celery.exceptions import SoftTimeLimitExceeded
from urllib3 import Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import connection, parse_url

from contract.webhooks import WebhookTargetRefused, public_addresses

REFUSED = "refused: the URL does not resolve to public addresses only"
NO_ANSWER_IN_TIME = "no answer in time"


@dataclass(frozen=True)
class Answer:
    """What one POST came to: the receiver's status, or why there was none."""

    status_code: int | None = None
    error: str | None = None
    final: bool = False  # retrying cannot help: the target is refused by the address policy


class Deadline:
    """Shut down every socket of one attempt ``seconds`` after it started.

    ``shutdown`` (not ``close``) from the timer's thread is safe while another thread is blocked
    reading the socket: the read returns at once, and the socket is closed by its owner. The
    deadline holds a duplicate of each socket's descriptor: the connection is then reachable
    whatever wraps it (TLS takes the original over, even mid-handshake), and its number cannot
    be reused by another socket before the attempt is over.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends_at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(self.ends_at - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock.dup())
            if self.expired:
                _shut(self._sockets[-1])

    def cancel(self) -> None:
        with self._lock:
            self._timer.cancel()
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the peer or our side closed it already
        sock.shutdown(socket.SHUT_RDWR)


def post(url: str, body: str, headers: dict[str, str], timeout: float, public_only: bool) -> Answer:
    """POST body to url once, all within ``timeout`` seconds; never raises for anything the
    network or the receiver does."""
    deadline = Deadline(timeout)
    try:
        pool = _pool_for(url, deadline, public_only)
        try:
            response = pool.urlopen(
                "POST",
                parse_url(url).request_uri,
                body=body.encode(),
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            response.close()  # the body is of no interest, however long
        finally:
            deadline.cancel()
            pool.close()
    except WebhookTargetRefused:
        return Answer(error=REFUSED, final=True)
    except Exception as exc:  # the task's soft time limit too: it is an attempt like any other
        return Answer(error=NO_ANSWER_IN_TIME if deadline.expired else _describe(exc))
    return Answer(status_code=response.status, error=_status_error(response.status))


def _pool_for(url: str, deadline: Deadline, public_only: bool) -> HTTPConnectionPool:
    parsed = parse_url(url)
    kwargs: dict[str, Any] = {
        "timeout": Timeout(connect=deadline.seconds, read=deadline.seconds),
        "maxsize": 1,
        "retries": False,
        "deadline": deadline,
        "public_only": public_only,
    }
    if parsed.scheme == "https":
        return _HTTPSPool(str(parsed.host), parsed.port, ca_certs=certifi.where(), **kwargs)
    return _HTTPPool(str(parsed.host), parsed.port, **kwargs)


def _status_error(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"the receiver answered {status}: redirects are not followed"
    return f"the receiver answered {status}"


def _describe(exc: BaseException) -> str:
    """A fixed phrase per kind of failure: exception texts carry addresses, never shown.

    urllib3's NewConnectionError is a ConnectTimeoutError too, so it is asked about first.
    """
    if isinstance(exc, NameResolutionError):
        return "the host name does not resolve"
    if isinstance(exc, NewConnectionError):
        return "the connection was refused or could not be made"
    if isinstance(
        exc, ConnectTimeoutError | ReadTimeoutError | TimeoutError | SoftTimeLimitExceeded
    ):
        return NO_ANSWER_IN_TIME
    if isinstance(exc, SSLError):
        return "TLS failed (certificate or handshake)"
    if isinstance(exc, ProtocolError):
        return "the connection broke before a full answer"
    return f"the delivery failed ({type(exc).__name__})"


class _Guarded:
    """The connection side of both schemes: open within the deadline, to allowed addresses."""

    deadline: Deadline
    public_only: bool

    def _open(self, conn: HTTPConnection) -> socket.socket:
        port = conn.port or conn.default_port
        host = conn._dns_host
        addresses = public_addresses(host, port) if self.public_only else [host]  # or refused
        failure: OSError | None = None
        for address in addresses:
            try:
                sock = connection.create_connection(
                    (address, port),
                    min(self.deadline.remaining(), self.deadline.seconds),
                    source_address=conn.source_address,
                    socket_options=conn.socket_options,
                )
            except OSError as exc:
                failure = exc
                continue
            self.deadline.watch(sock)
            return sock
        if isinstance(failure, TimeoutError):
            raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out")
        raise NewConnectionError(conn, f"failed to connect: {failure}")


class _HTTPConnection(_Guarded, HTTPConnection):
    def __init__(self, *args: Any, deadline: Deadline, public_only: bool, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.deadline, self.public_only = deadline, public_only

    def _new_conn(self) -> socket.socket:
        return self._open(self)


class _HTTPSConnection(_Guarded, HTTPSConnection):
    def __init__(self, *args: Any, deadline: Deadline, public_only: bool, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.deadline, self.public_only = deadline, public_only

    def _new_conn(self) -> socket.socket:
        return self._open(self)  # TLS is then set up with the URL's host name (SNI, cert)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection
