"""Object uploads off the critical path: the engine hands bytes over and goes on iterating.

One background thread per job uploads what it is given. Per key only the newest object
waits: a state saved while an older one is still uploading replaces the older one, so at most
one upload per key is in flight and one waits behind it, whatever the storage's speed. A
failure (storage down past its retry budget) is kept and raised to the job at its next
``put`` or ``flush``, where the runner's outage handling takes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from contract.errors import StorageUnavailable
from shared.storage import ObjectStorage


class Uploader:
    """Uploads ``put`` objects in the background, the newest per key; ``flush`` waits for all."""

    def __init__(self, storage: ObjectStorage, observe: Callable[[float], None] | None = None):
        self.storage = storage
        self.observe = observe
        self.seconds = 0.0  # time spent uploading, for the job's timing
        self._pending: dict[str, tuple[bytes, str]] = {}
        self._stored: set[str] = set()
        self._busy = False
        self._error: StorageUnavailable | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="nst-uploads", daemon=True)
        self._thread.start()

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Queue an upload (replacing one of the same key still waiting); raise a past failure."""
        with self._cond:
            self._raise_failure()
            self._pending[key] = (data, content_type)
            self._cond.notify_all()

    def stored(self, key: str) -> bool:
        """True once an object for ``key`` has been uploaded by this uploader."""
        with self._cond:
            return key in self._stored

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued is uploaded; raise StorageUnavailable if one failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while (self._pending or self._busy) and self._error is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise StorageUnavailable("object storage is too slow: uploads did not finish")
                self._cond.wait(left)
            self._raise_failure()

    def close(self) -> None:
        """Drop what still waits and stop the thread (the job ended or was handed back)."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
        self._thread.join(timeout=60)

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                key, (data, content_type) = next(iter(self._pending.items()))
                del self._pending[key]
                self._busy = True
            self._upload(key, data, content_type)

    def _upload(self, key: str, data: bytes, content_type: str) -> None:
        started = time.monotonic()
        try:
            self.storage.put(key, data, content_type)
        except StorageUnavailable as exc:
            with self._cond:
                self._error = exc
        finally:
            spent = time.monotonic() - started
            with self._cond:
                self.seconds += spent
                self._busy = False
                if self._error is None:
                    self._stored.add(key)
                self._cond.notify_all()
            if self.observe is not None:
                self.observe(spent)
