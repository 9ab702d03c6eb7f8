"""Wait for a job to change without polling: one Redis subscription per process, many waiters.

``JobStore`` publishes a job's new version on ``{prefix}:events:{id}`` in the same transaction
that changes it. A ``JobWatcher`` subscribes once to all of them (a pattern) in a background
thread and wakes the waiters of that job, so an open event stream or a ``Prefer: wait``
request costs an Event, not a Redis connection or a thread; under gevent the thread and the
events are greenlets. After a lost subscription every waiter is woken, so none sleeps through
a change: callers always re-read the record, the source of truth, after waking.

A queued job's place changes without the job changing: when any job ahead of it leaves the
queue. The store announces that on its queue channel; waiters on queued jobs ask to be woken by
it too (``queue=True``), so a stream or a long poll sees the new position at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import redis

from shared.job_store import QUEUE_MOVED

log = logging.getLogger(__name__)


class JobWatcher:
    """Per-process fan-out of job-change notifications to waiting requests."""

    def __init__(self, client: redis.Redis, pattern: str) -> None:
        self.client = client
        self.pattern = pattern
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watching(self, job_id: str, queue: bool = False) -> Iterator[threading.Event]:
        """An Event set when the job changes (and, with ``queue``, when any job leaves the
        queue); register before reading the record, so no change is missed."""
        changed = threading.Event()
        names = (job_id, QUEUE_MOVED) if queue else (job_id,)
        with self._lock:
            for name in names:
                self._waiters.setdefault(name, set()).add(changed)
            self._start()
        try:
            yield changed
        finally:
            with self._lock:
                for name in names:
                    waiting = self._waiters.get(name, set())
                    waiting.discard(changed)
                    if not waiting:
                        self._waiters.pop(name, None)

    def waiting(self) -> int:
        """How many waiters there are now (open streams and long polls)."""
        with self._lock:
            return sum(len(events) for name, events in self._waiters.items() if name != QUEUE_MOVED)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._listen, name="nst-job-watch", daemon=True)
            self._thread.start()

    def _listen(self) -> None:
        """Dispatch notifications for ever; on a lost connection wake everyone and resubscribe."""
        stop = threading.Event()
        while not stop.is_set():
            try:
                self._dispatch()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("job notifications interrupted: %s", exc)
                self._wake_all()
                stop.wait(1.0)

    def _dispatch(self) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.psubscribe(self.pattern)
            self._wake_all()  # changes made while (re)subscribing are not missed
            while True:
                message = pubsub.get_message(timeout=30.0)
                if message is not None:
                    channel = message["channel"]
                    text = channel.decode() if isinstance(channel, bytes) else str(channel)
                    self._wake(text.rsplit(":", 1)[-1])
        finally:
            pubsub.close()

    def _wake(self, job_id: str) -> None:
        with self._lock:
            for event in self._waiters.get(job_id, ()):
                event.set()

    def _wake_all(self) -> None:
        with self._lock:
            for events in self._waiters.values():
                for event in events:
                    event.set()
