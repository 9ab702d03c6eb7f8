"""The API over real HTTP: in a thread of this process (Werkzeug), or as deployed (gunicorn).

A thread is what most live tests need (real sockets, the app built from the factory with the
test's settings, no interpreter to start); gunicorn is for what only the deployed server shows
(gevent, its timeouts, several processes) and for benchmarks.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from harness.ports import free_port
from harness.processes import Process
from harness.waits import answers

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
APP = "api.app:create_app()"
REPO_CONFIG = ("-c", "python:api.gunicorn_conf")  # as deploy/local/services.sh runs it
SHUTDOWN_POLL = 0.05  # seconds; how long leaving the block may wait for the serving loop


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port, threaded, for the block; yields its URL.

    The socket is listening before the block starts, so no readiness wait is needed.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def gunicorn(
    env: dict[str, str],
    log: Path,
    *,
    args: Sequence[str] = REPO_CONFIG,
    app: str = APP,
    ready_path: str = "/healthz",
    timeout: float = 120,
) -> Process:
    """The API under gunicorn on a free port, returned once ``ready_path`` answers below 500.

    With the repository's config file (the default) the address and the number of workers
    come from NST_API_HOST, NST_API_PORT and NST_API_WORKERS (default 1); with other
    ``args`` a ``--bind`` is added. ``/healthz`` answers as soon as a worker serves;
    ``/readyz`` waits for Redis and storage too. The caller stops it (``with`` or ``stop()``).
    """
    port = free_port()
    env = {"NST_API_WORKERS": "1", **env, "NST_API_HOST": "127.0.0.1", "NST_API_PORT": str(port)}
    bind = [] if "-c" in args else ["--bind", f"127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}"
    started = Process([GUNICORN, *args, *bind, app], env, log, append=True, url=url)
    try:
        started.wait_until(lambda: answers(url + ready_path), timeout, f"gunicorn at {url}")
    except BaseException:
        started.stop()
        raise
    return started
