"""gunicorn's configuration for the API (``gunicorn -c python:api.gunicorn_conf``).

Read from the same NST_* settings as the app. The keep-alive time doubles as the deadline for
a request's headers on gevent workers; each API gets its own control socket or none (gunicorn
23+ defaults every process on a machine to ``~/.gunicorn/gunicorn.ctl``).
"""

from typing import Any

from shared.settings import load_settings

_settings = load_settings()

bind = f"{_settings.api_host}:{_settings.api_port}"
workers = _settings.api_workers
worker_class = "api.gunicorn_app.JsonErrorWorker"
worker_connections = _settings.api_worker_connections
keepalive = _settings.api_header_timeout_seconds
timeout = 30
graceful_timeout = 30
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """A client that stalls one read or write of its connection this long is cut off."""
    worker.stall_seconds = _settings.api_body_timeout_seconds
