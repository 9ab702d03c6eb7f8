"""Numbers in headers and query strings: ASCII digits only, and only a few of them.

``str.isdigit()`` is true for "²" and other Unicode digits that ``int()`` refuses, and
``int()`` refuses more than 4300 digits; each check-then-convert was a 500 (issue 21:
``Last-Event-ID: ²``, ``Prefer: wait=²``, ``?limit=%C2%B2``, a 4400-digit id). Every number
the API reads from a request goes through here, so a value either parses or is refused
(or ignored, where the standard says so) in one way.
"""

from __future__ import annotations

from flask import request

from contract.errors import InvalidParams

MAX_DIGITS = 18  # below 2**63: no count, version or number of seconds the API reads is longer


def ascii_int(text: str | None, max_digits: int = MAX_DIGITS) -> int | None:
    """The number ``text`` spells in 1 to ``max_digits`` ASCII digits; None for anything else."""
    if text is None or not 0 < len(text) <= max_digits:
        return None
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def query_int(name: str, default: int, low: int, high: int) -> int:
    """The whole-number query parameter ``name``, from ``low`` to ``high``; InvalidParams naming
    it for anything else (a refused value is a client's mistake worth telling, not ignoring)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    value = ascii_int(raw)
    if value is None or not low <= value <= high:
        raise InvalidParams(f"{name} must be a whole number from {low} to {high}", field=name)
    return value
