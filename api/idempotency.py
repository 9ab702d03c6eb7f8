"""The ``Idempotency-Key`` header, bounded before it is hashed, stored and compared.

Every key is kept in Redis for NST_IDEMPOTENCY_TTL_SECONDS; an unbounded one made each
submit a way to store (and hash) kilobytes of a client's choosing. 255 printable ASCII
characters hold any UUID, ULID or hash a client would use (the OpenAPI document says so).
"""

from __future__ import annotations

from contract.errors import InvalidIdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255


def idempotency_key(raw: str | None) -> str | None:
    """The request's key, None when there is none; InvalidIdempotencyKey when it is unusable."""
    if raw is None:
        return None
    if not 1 <= len(raw) <= MAX_KEY_CHARS or not all(" " <= char <= "~" for char in raw):
        raise InvalidIdempotencyKey(
            f"{HEADER} must be 1 to {MAX_KEY_CHARS} printable ASCII characters "
            f"(this one has {len(raw)} characters); a UUID is a good key",
            field=HEADER,
        )
    return raw
