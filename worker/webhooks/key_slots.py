"""How many deliveries of one API key's jobs may run at once, across every webhook consumer.

A receiver that answers slowly (or not at all) holds a consumer process for a whole attempt.
Without a bound, one key with a slow receiver and many events would take every consumer process
and hold every other key's deliveries up behind it. Each key may have at most
NST_WEBHOOK_MAX_IN_FLIGHT_PER_KEY attempts in flight; a delivery that finds its key's slots
taken steps aside (is put back a second or two later, without counting as an attempt), so the
consumer takes the next message, another key's.

A slot is a member of a sorted set scored by when it lapses, so a consumer killed mid-attempt
frees its slot by itself once the attempt could no longer be running (its hard time limit).
"""

from __future__ import annotations

import contextlib
import time
import uuid

import redis

# Drop lapsed slots, then take one if fewer than the limit are held; in one step, so two
# consumers cannot both take the last one.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(ARGV[3]) * 1000) + 1000)
return 1
"""


class OwnerSlots:
    """The per-key bound on deliveries in flight (``take`` / ``give_back``)."""

    def __init__(self, client: redis.Redis, prefix: str, per_owner: int, hold_seconds: float):
        self.redis = client
        self.prefix = prefix
        self.per_owner = per_owner
        self.hold_seconds = hold_seconds
        self._take = client.register_script(_TAKE)

    def _key(self, owner: str) -> str:
        return f"{self.prefix}:webhook-slots:{owner}"

    def take(self, owner: str) -> str | None:
        """A slot's token, or None when the key has all its slots in flight."""
        token = uuid.uuid4().hex
        now = time.time()
        args: list[float | str] = [now, self.per_owner, now + self.hold_seconds, token]
        return token if self._take(keys=[self._key(owner)], args=args) == 1 else None

    def give_back(self, owner: str, token: str) -> None:
        """Free the slot; if Redis cannot be reached now, it lapses by itself (never raises,
        so the attempt it guarded is still recorded)."""
        with contextlib.suppress(redis.RedisError):
            self.redis.zrem(self._key(owner), token)
