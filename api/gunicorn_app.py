"""How the API is served: gunicorn's gevent workers, answering malformed requests in JSON.

Why gevent: with threaded workers, 12 clients sending headers at one byte a second held every
thread and ``/healthz`` timed out. On gevent a connection costs a greenlet, not a thread, so a
few hundred slow clients (and, later, open event streams) cannot starve the service. Headers
must arrive within the keep-alive time (gunicorn's gevent worker reads them under that
timeout); a body must arrive within ``NST_API_BODY_TIMEOUT_SECONDS`` (``api/deadlines.py``).
gunicorn answers malformed requests itself (an over-long URL is its 414): ``JsonErrorWorker``
makes those pages the same JSON as every other error.

A client that stops reading the answer (a download, an event stream) would hold its connection
for ever: gunicorn's gevent worker makes client sockets blocking without a timeout. Here each
single read or write on a client socket may wait at most ``stall_seconds``
(NST_API_BODY_TIMEOUT_SECONDS, set by ``api/gunicorn_conf.py``); idle waits between requests or
between events are no socket operation and are not cut.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.util import write_nonblock
from gunicorn.workers.base_async import AsyncWorker
from gunicorn.workers.ggevent import GeventWorker

from contract import errors


class JsonErrorWorker(GeventWorker):
    """gunicorn's gevent worker, answering the requests it refuses itself in the API's JSON."""

    stall_seconds: float = 60.0

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        """Serve one connection whose every socket read and write is bounded in time."""
        client.settimeout(self.stall_seconds)
        AsyncWorker.handle(self, listener, client, addr)  # GeventWorker's would unset it

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> bool:
        """One line, not a traceback, for a client cut off for stalling (there may be many)."""
        try:
            return bool(super().handle_request(listener_name, req, sock, addr))
        except TimeoutError:
            self.log.warning(
                "cut off %s: one read or write stalled over %gs",
                (addr or ("",))[0],
                self.stall_seconds,
            )
            raise StopIteration from None  # gunicorn's way to close the connection quietly

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        kind = _error_for(exc)
        if kind is errors.InternalError:
            self.log.exception("error handling a request")
        else:
            self.log.warning("refused a malformed request from %s: %s", (addr or ("",))[0], exc)
        body = json.dumps({"error": {"code": kind.code, "message": kind.headline}}).encode()
        head = (
            f"HTTP/1.1 {kind.http_status} {kind.code.replace('_', ' ')}\r\n"
            "Connection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            write_nonblock(client, head.encode("latin1") + body)
        except OSError:
            self.log.debug("could not send the error page")


def _error_for(exc: BaseException) -> type[errors.NSTError]:
    if isinstance(exc, LimitRequestLine):
        return errors.UriTooLong
    if isinstance(exc, LimitRequestHeaders):
        return errors.HeadersTooLarge
    if type(exc).__module__.startswith("gunicorn.http"):
        return errors.BadRequest
    return errors.InternalError
