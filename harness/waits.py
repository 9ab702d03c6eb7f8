"""Waiting for a condition, never for a length of time, and the HTTP readiness check.

Start-up dominates the suite's time, so the poll starts fast (10 ms) and backs off to
``every``: a server that is up in 200 ms is seen at once, one that takes a minute is not
asked a thousand times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import requests

T = TypeVar("T")
FIRST_POLL = 0.01


class NeverHappened(AssertionError):
    """A waited-for condition did not hold in time.

    An AssertionError, so pytest shows it as a test failure (what the test waited for did
    not happen), not as an error in the test's machinery.
    """


def wait_for(condition: Callable[[], T], timeout: float, what: str, every: float = 0.1) -> T:
    """Poll condition until it returns something truthy, and return that value.

    Polls start FIRST_POLL seconds apart and double up to ``every``. After ``timeout``
    seconds raise NeverHappened naming ``what``. Exceptions from condition propagate: a
    condition that can fail while the thing starts (a refused connection) catches its own
    expected errors, so a real failure is not mistaken for "not yet".
    """
    deadline = time.monotonic() + timeout
    pause = min(FIRST_POLL, every)
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise NeverHappened(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, every)


def answers(url: str, timeout: float = 1.0) -> bool:
    """The HTTP server at url is up and not failing: any answer below 500.

    Only what "not listening yet" looks like from a client counts as no: a refused or reset
    connection or a timeout (requests.ConnectionError, requests.Timeout). Any other error
    (a malformed URL) propagates.
    """
    try:
        return requests.get(url, timeout=timeout).status_code < 500
    except (requests.ConnectionError, requests.Timeout):
        return False
