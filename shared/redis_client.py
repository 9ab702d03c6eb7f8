"""Redis connections with the retry policy each side needs.

The API fails fast (a short connect timeout, one retry) so a client gets a 503
instead of a hang. The worker is patient: a Redis restart in the middle of a
job must not fail the job, so its client retries with exponential backoff for
about half a minute before giving up.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

RETRIED = [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]


def connect(url: str, patient: bool) -> redis.Redis:
    """A client for url; patient clients ride out a restart of the server."""
    if patient:
        retry = Retry(
            ExponentialBackoff(cap=4.0, base=0.25), retries=12, supported_errors=tuple(RETRIED)
        )
        return redis.Redis.from_url(
            url, retry=retry, retry_on_error=RETRIED, socket_connect_timeout=2,
            socket_timeout=10, health_check_interval=10,
        )  # fmt: skip
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.1), retries=1, supported_errors=tuple(RETRIED))
    return redis.Redis.from_url(
        url, retry=retry, retry_on_error=RETRIED, socket_connect_timeout=1,
        socket_timeout=5, health_check_interval=30,
    )  # fmt: skip
