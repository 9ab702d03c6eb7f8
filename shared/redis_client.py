"""Redis connections with the retry policy each side needs, to one server or through Sentinel.

The API fails fast (a short connect timeout, one retry) so a client gets a 503
instead of a hang. The worker is patient: a Redis restart in the middle of a
job must not fail the job, so its client retries with exponential backoff for
about half a minute before giving up.

With ``NST_REDIS_URL=sentinel://host1:26379/0;sentinel://host2:26379/0`` (kombu's form, so the
broker reads the same value) the client asks the sentinels where the primary of
``NST_REDIS_SENTINEL_MASTER`` is, and asks again after a failover: a connection to a demoted
primary fails with a ConnectionError, which the retry policy above rides out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from contract.errors import ConfigError
from shared.settings import Settings

RETRIED = [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
SENTINEL_SCHEME = "sentinel"
SENTINEL_PORT = 26379
# The API's connections per process. Under gevent every open event stream or long poll is a
# greenlet, and a pool that grows on demand opened one connection per concurrent read
# (31 for 50 streams, benchmarks/streams.py); a blocking pool makes greenlets take turns on
# these instead, waiting at most the impatient socket timeout for one.
API_POOL_CONNECTIONS = 16


@dataclass(frozen=True)
class SentinelURL:
    """The sentinels of a ``sentinel://`` URL, and the primary's database and credentials."""

    sentinels: tuple[tuple[str, int], ...]
    db: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SentinelURL:
        """Read ``sentinel://[user:pass@]host:port[/db];sentinel://...`` as kombu does.

        Database and credentials come from the first entry; ConfigError names a malformed one.
        """
        parts = [urlsplit(chunk.strip()) for chunk in url.split(";") if chunk.strip()]
        if not parts or any(p.scheme != SENTINEL_SCHEME or not p.hostname for p in parts):
            raise ConfigError(
                "NST_REDIS_URL: every ';'-separated entry must be sentinel://host:port"
            )
        first = parts[0]
        db = first.path.strip("/") or "0"
        if not (db.isascii() and db.isdigit()):  # isdigit() alone takes "²", which int() refuses
            raise ConfigError(f"NST_REDIS_URL: database {db!r} is not a number")
        return cls(
            tuple((str(p.hostname), p.port or SENTINEL_PORT) for p in parts),
            int(db),
            unquote(first.username) if first.username else None,
            unquote(first.password) if first.password else None,
        )


def is_sentinel_url(url: str) -> bool:
    return url.startswith(f"{SENTINEL_SCHEME}://")


def client_for(settings: Settings, patient: bool) -> redis.Redis:
    """The job store's client for these settings: one server, or the primary Sentinel names."""
    password = settings.redis_sentinel_password
    return connect(
        settings.redis_url,
        patient,
        sentinel_master=settings.redis_sentinel_master,
        sentinel_password=password.get_secret_value() if password else None,
    )


def connect(
    url: str,
    patient: bool,
    *,
    sentinel_master: str | None = None,
    sentinel_password: str | None = None,
) -> redis.Redis:
    """A client for url; patient clients ride out a restart (or a failover) of the server."""
    options = _patient_options() if patient else _impatient_options()
    if not is_sentinel_url(url):
        if patient:
            return redis.Redis.from_url(url, **options)
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=API_POOL_CONNECTIONS,
            timeout=options["socket_timeout"],
            **options,
        )
        return redis.Redis(connection_pool=pool)
    if not sentinel_master:
        raise ConfigError("NST_REDIS_SENTINEL_MASTER is required with a sentinel:// NST_REDIS_URL")
    where = SentinelURL.parse(url)
    return _primary_via_sentinel(where, sentinel_master, sentinel_password, options)


def _primary_via_sentinel(
    where: SentinelURL, master: str, sentinel_password: str | None, options: dict[str, Any]
) -> redis.Redis:
    """A client that follows the primary: it asks the sentinels again on every reconnect."""
    sentinel_kwargs = {"socket_connect_timeout": 1, "socket_timeout": 2}
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password  # type: ignore[assignment]
    sentinel = Sentinel(list(where.sentinels), sentinel_kwargs=sentinel_kwargs)
    client: redis.Redis = sentinel.master_for(
        master,
        redis_class=redis.Redis,
        db=where.db,
        username=where.username,
        password=where.password,
        **options,
    )
    return client


def _patient_options() -> dict[str, Any]:
    retry = Retry(
        ExponentialBackoff(cap=4.0, base=0.25), retries=12, supported_errors=tuple(RETRIED)
    )
    return {
        "retry": retry,
        "retry_on_error": RETRIED,
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
        "health_check_interval": 10,
    }


def _impatient_options() -> dict[str, Any]:
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.1), retries=1, supported_errors=tuple(RETRIED))
    return {
        "retry": retry,
        "retry_on_error": RETRIED,
        "socket_connect_timeout": 1,
        "socket_timeout": 5,
        "health_check_interval": 30,
    }
