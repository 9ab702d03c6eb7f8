"""redis-server and redis-sentinel processes of a test's or a benchmark's own.

For what the shared Redis cannot show: a restart, a crash (SIGKILL), a lost fsync window, a
Sentinel failover. Servers are persisted as docker-compose runs them (append-only, fsync every
second, no eviction), so a restart here loses what production would lose and no more.
"""

from __future__ import annotations

import os
from pathlib import Path

import redis

from harness.ports import free_port
from harness.processes import Process

START_TIMEOUT = 30  # seconds; an AOF replay on a loaded 2-core machine is the slow case


def pings(client: redis.Redis) -> bool:
    """The server answers PING: the one readiness check for redis-server and redis-sentinel.

    "Not ready yet" is: no listener (ConnectionError), no answer in the client's socket
    timeout (TimeoutError), or a server still replaying its append-only file (BusyLoadingError,
    "LOADING"), which is what a restarted server answers first. Any other error (a wrong
    password, a wrong command) is raised: waiting would not fix it.
    """
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
        return False


class RedisServer:
    """A redis-server (or redis-sentinel) on a port fixed at creation, so it can be stopped
    and started again where its clients expect it.

    ``start`` returns once it answers PING; ``stop`` is a clean shutdown (SIGTERM, as
    ``docker compose restart`` does), ``kill`` a crash (SIGKILL). Every start appends to one
    log in ``folder``.
    """

    def __init__(self, args: list[str], port: int, folder: Path, log_name: str) -> None:
        self.args = args
        self.port = port
        self.folder = folder
        self.log = folder / log_name
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client that gives up quickly, for probes made while the server may be down."""
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1)

    def start(self) -> RedisServer:
        self.process = Process(self.args, dict(os.environ), self.log, append=True)
        probe = self.client()
        what = f"{' '.join(self.args[:2])} to answer on port {self.port}"
        try:
            self.process.wait_until(lambda: pings(probe), START_TIMEOUT, what)
        except BaseException:
            self.process.stop()
            raise
        finally:
            probe.close()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=20)

    def kill(self) -> None:
        """SIGKILL: the process dies between two instructions, as in a crash."""
        assert self.process is not None, "never started"
        self.process.kill()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def redis_server(
    folder: Path, *extra: str, port: int | None = None, aof_rewrite: bool = False
) -> RedisServer:
    """A server persisted as docker-compose runs it: append-only, fsync every second, no
    eviction. Not started: call ``start()`` or use it as a context manager.

    The background AOF rewrite is off unless ``aof_rewrite``: a test that cuts the file back
    needs it to stay put; a benchmark that measures Redis keeps production's rewrite.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    rewrite = [] if aof_rewrite else ["--auto-aof-rewrite-percentage", "0"]
    args = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(folder),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--maxmemory-policy",
        "noeviction",
        *rewrite,
        *extra,
    ]
    return RedisServer(args, port, folder, "redis.log")


def redis_sentinel(
    folder: Path, master: str, primary_port: int, quorum: int = 2, down_after_ms: int = 1000
) -> RedisServer:
    """A sentinel watching the primary (down after ``down_after_ms`` without an answer).

    Run as ``redis-server CONFIG --sentinel``, the same binary in sentinel mode: the
    ``redis-sentinel`` name is not always installed (Debian ships it as a package of its own),
    and this way the suite needs only redis-server.
    The config file is the sentinel's own: it rewrites it as it learns the topology.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = folder / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
        f"sentinel monitor {master} 127.0.0.1 {primary_port} {quorum}\n"
        f"sentinel down-after-milliseconds {master} {down_after_ms}\n"
        f"sentinel failover-timeout {master} 10000\n"
        f"sentinel parallel-syncs {master} 1\n"
    )
    return RedisServer(["redis-server", str(config), "--sentinel"], port, folder, "sentinel.log")
