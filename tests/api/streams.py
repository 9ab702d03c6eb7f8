"""Reading ``GET /v1/jobs/{id}/events`` in-process (Flask's test client, unbuffered)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.api.conftest import AUTH
from tests.images import content_bytes, style_bytes

Event = tuple[str | None, str, Any]  # (id, event name, data); heartbeats are (None, ":", None)
FILES = [("content", (content_bytes(48), "c.jpg")), ("style", (style_bytes(48), "s.jpg"))]


def open_stream(
    client: FlaskClient, job_id: str, headers: dict[str, str] | None = None
) -> TestResponse:
    """The stream's response, not yet read (close it to end the stream and free its slot)."""
    return client.get(
        f"/v1/jobs/{job_id}/events", headers={**AUTH, **(headers or {})}, buffered=False
    )


def read_events(response: TestResponse) -> Iterator[Event]:
    """The stream's events as they come, heartbeats included, until the server closes it."""
    text = ""
    for chunk in response.response:
        text += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in text:
            block, text = text.split("\n\n", 1)
            if block.startswith(":"):
                yield None, ":", None
                continue
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in fields:
                yield fields.get("id"), fields["event"], json.loads(fields["data"])


def next_event(events: Iterator[Event]) -> Event:
    """The next event that is not a heartbeat."""
    return next(event for event in events if event[1] != ":")
