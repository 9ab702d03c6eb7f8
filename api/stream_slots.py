"""A per-key cap on open event streams and long polls, counted in Redis across API processes.

Found from outside (issue 21, failure 3): 2100 open streams, or 2100 ``Prefer: wait`` polls,
from one key took every connection of 2 workers x 1000, and ``/healthz`` and every other key
timed out. Each stream or long poll now holds a slot: a member of the key's sorted set, scored
by when its lease ends. A process that dies without releasing its slots loses them when their
leases pass (an open stream renews its lease every time it wakes), so a crash never locks a
key out for longer than one lease.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis

from contract.errors import TooManyStreams

# KEYS[1]: the key's slots. ARGV: lease seconds, the limit, this slot's token. Server time, so
# API processes on machines whose clocks differ agree on which leases have passed.
_ACQUIRE = """
local now = redis.call('TIME')
local seconds = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', seconds)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], seconds + tonumber(ARGV[1]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return 1
"""
_RENEW = """
local now = redis.call('TIME')
local seconds = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZADD', KEYS[1], seconds + tonumber(ARGV[1]), ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return 1
"""


@dataclass
class Slot:
    """One held slot: renew it while the stream lives, release it when it ends (idempotent)."""

    client: redis.Redis
    key: str
    token: str
    lease_seconds: float
    released: bool = False
    renewed_at: float = field(default_factory=time.monotonic)

    def renew(self) -> None:
        """Extend the lease; cheap to call on every wake (it writes once a third of a lease)."""
        if self.released or time.monotonic() - self.renewed_at < self.lease_seconds / 3:
            return
        self.client.eval(_RENEW, 1, self.key, self.lease_seconds, self.token)
        self.renewed_at = time.monotonic()

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.client.zrem(self.key, self.token)


class StreamSlots:
    """At most ``limit`` slots per owner at once; a caller past it gets TooManyStreams (429)."""

    def __init__(self, client: redis.Redis, prefix: str, limit: int) -> None:
        self.client = client
        self.prefix = prefix
        self.limit = limit

    def _key(self, owner: str) -> str:
        return f"{self.prefix}:streams:{owner}"

    def take(self, owner: str, lease_seconds: float) -> Slot:
        """A slot for ``owner`` for ``lease_seconds`` (renewable); TooManyStreams when full."""
        slot = Slot(self.client, self._key(owner), uuid.uuid4().hex, lease_seconds)
        if not self.client.eval(_ACQUIRE, 1, slot.key, lease_seconds, self.limit, slot.token):
            raise TooManyStreams(
                f"this key already has {self.limit} event streams or waiting requests open; "
                "close one, or poll without Prefer: wait"
            )
        return slot

    @contextlib.contextmanager
    def holding(self, owner: str, lease_seconds: float) -> Iterator[Slot]:
        """A slot for the block's duration (a long poll)."""
        slot = self.take(owner, lease_seconds)
        try:
            yield slot
        finally:
            slot.release()

    def held(self, owner: str) -> int:
        """Slots the owner holds now, expired leases included until the next take."""
        return int(self.client.zcard(self._key(owner)))
