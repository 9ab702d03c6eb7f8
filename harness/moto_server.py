"""moto's S3 API over real HTTP: in a thread of this process, or as a process of its own.

The suite runs it in a thread (no interpreter to start, and state such as buckets survives a
stop and start, which an outage test needs); benchmarks run it as a process, so its CPU is not
the measuring client's.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from harness.ports import free_port
from harness.processes import Process
from harness.waits import answers

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
SHUTDOWN_POLL = 0.05  # seconds; how long stop() may wait for the serving loop to notice


class ThreadedS3:
    """moto's S3 server on a thread, on a port fixed at creation, that can go away and come
    back on that port.

    ``stop`` closes the listening socket, so while it is down clients are refused at once, as
    by a stopped container (moto's own ThreadedMotoServer leaves the socket open, and clients
    hang in the backlog instead). Buckets and objects live in moto's process-wide backends, so
    they are still there after ``start``.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> ThreadedS3:
        """Listen (the socket is bound before this returns, so no readiness wait is needed)."""
        if self._server is None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server("127.0.0.1", self.port, app, threaded=True)
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._server = self._thread = None

    def create_bucket(self, name: str) -> None:
        s3_client(self.endpoint).create_bucket(Bucket=name)

    def __enter__(self) -> ThreadedS3:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def s3_client(endpoint: str) -> S3Client:
    """A boto3 S3 client for the endpoint with the fake credentials."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def moto_process(env: dict[str, str], log: Path, bucket: str | None = None) -> Process:
    """``python -m moto.server`` on a free port, answering, with bucket made if named.

    The caller stops it (``with`` or ``stop()``); its ``url`` is the S3 endpoint.
    """
    port = free_port()
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    endpoint = f"http://127.0.0.1:{port}"
    started = Process(args, {**env, **AWS_ENV}, log, append=True, url=endpoint)
    try:
        started.wait_until(lambda: answers(endpoint), 60, "moto to answer")
        if bucket:
            s3_client(endpoint).create_bucket(Bucket=bucket)
    except BaseException:
        started.stop()
        raise
    return started
