"""One webhook POST: a short timeout, no redirects, and only public addresses (SSRF guard).

The address check runs inside the connection, on the very addresses the socket is opened to,
right before it connects: checking a name at submit and letting the HTTP library resolve it
again later would let DNS answer differently the second time (DNS rebinding). Redirects are
not followed (a ``Location`` could point anywhere): a 3xx is a failed attempt. urllib3 is used
directly, not requests, because requests would also honour ``HTTP(S)_PROXY`` variables, which
would move the connection, and so the check, to the proxy.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import certifi
from celery.exceptions import SoftTimeLimitExceeded
from urllib3 import PoolManager, Timeout
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
from urllib3.util import connection

from shared.webhooks import WebhookTargetRefused, public_addresses

REFUSED = "refused: the URL does not resolve to public addresses only"


@dataclass(frozen=True)
class Answer:
    """What one POST came to: the receiver's status, or why there was none."""

    status_code: int | None = None
    error: str | None = None
    final: bool = False  # retrying cannot help: the target is refused by the address policy


def post(url: str, body: str, headers: dict[str, str], timeout: float, public_only: bool) -> Answer:
    """POST body to url once; never raises for anything the network or the receiver does."""
    http = PoolManager(
        timeout=Timeout(connect=timeout, read=timeout), retries=False, ca_certs=certifi.where()
    )
    if public_only:
        http.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}
    try:
        response = http.request(
            "POST", url, body=body.encode(), headers=headers, redirect=False,
            preload_content=False,
        )  # fmt: skip
        response.close()  # the body is of no interest, however long
    except WebhookTargetRefused:
        return Answer(error=REFUSED, final=True)
    except Exception as exc:  # the task's soft time limit too: it is an attempt like any other
        return Answer(error=_describe(exc))
    finally:
        http.clear()
    return Answer(status_code=response.status, error=_status_error(response.status))


def _status_error(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"the receiver answered {status}: redirects are not followed"
    return f"the receiver answered {status}"


def _describe(exc: BaseException) -> str:
    """A fixed phrase per kind of failure: exception texts carry addresses, never shown."""
    if isinstance(
        exc, ConnectTimeoutError | ReadTimeoutError | TimeoutError | SoftTimeLimitExceeded
    ):
        return "no answer in time"
    if isinstance(exc, NameResolutionError):
        return "the host name does not resolve"
    if isinstance(exc, NewConnectionError):
        return "the connection was refused or could not be made"
    if isinstance(exc, SSLError):
        return "TLS failed (certificate or handshake)"
    if isinstance(exc, ProtocolError):
        return "the connection broke before a full answer"
    return f"the delivery failed ({type(exc).__name__})"


def _connect_public(conn: HTTPConnection) -> socket.socket:
    """Open the socket to the first reachable address of the host, all of them public."""
    addresses = public_addresses(conn._dns_host, conn.port or 80)  # raises WebhookTargetRefused
    failure: OSError | None = None
    for address in addresses:
        try:
            return connection.create_connection(
                (address, conn.port or 80), conn.timeout,
                source_address=conn.source_address, socket_options=conn.socket_options,
            )  # fmt: skip
        except OSError as exc:
            failure = exc
    if isinstance(failure, TimeoutError):
        raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out")
    raise NewConnectionError(conn, f"failed to connect: {failure}")


class _PublicHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_public(self)


class _PublicHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_public(self)  # TLS is then set up with the URL's host name (SNI, cert)


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection
