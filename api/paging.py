"""Opaque cursors for ``GET /v1/jobs``: where the last page ended, not how many came before.

An offset counts from the newest job, so every job created between two requests pushes one
already seen onto the next page. A cursor names the last job shown, (created_at, id), which
is its place in the owner's sorted set whatever is added above it. It is base64url text so a
client passes it back unchanged and never builds one.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

from contract.errors import InvalidParams
from contract.jobs import Job, is_job_id

MAX_CURSOR_CHARS = 128


def encode_cursor(job: Job) -> str:
    """The cursor of the page that starts after ``job``."""
    raw = json.dumps([job.created_at, job.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[float, str]:
    """(created_at, id) from a cursor this service gave; InvalidParams naming ``cursor``."""
    try:
        if len(text) > MAX_CURSOR_CHARS or not text.isascii():
            raise ValueError
        created_at, job_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(created_at, int | float) or not math.isfinite(created_at):
            raise ValueError
        if not isinstance(job_id, str) or not is_job_id(job_id):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidParams(
            "cursor is not one this service gave; start from the first page (no cursor)",
            field="cursor",
        ) from None
    return float(created_at), job_id
