"""Read a server-sent event stream (the client side of ``GET /v1/jobs/{id}/events``).

Plain ``requests`` streaming and the event-stream format's few rules: ``field: value`` lines,
a blank line ends an event, lines starting with ``:`` are comments (the server's heartbeat).
A dropped connection is resumed with ``Last-Event-ID``, so no change is missed or repeated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

HEARTBEAT_GRACE_SECONDS = 60.0  # a stream silent this long (no heartbeat) is dead


@dataclass(frozen=True)
class ServerEvent:
    id: str | None
    name: str
    data: Any


def parse(lines: Iterator[str]) -> Iterator[ServerEvent]:
    """Events from the stream's lines (decoded text, without line endings)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                yield ServerEvent(
                    fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def follow(
    session: requests.Session,
    url: str,
    check: Callable[[requests.Response], None],
    resumes: int = 5,
    last_id: str | None = None,
) -> Iterator[ServerEvent]:
    """Every event at ``url`` until the server closes the stream; resume up to ``resumes`` times.

    ``check`` raises for an error answer (the client maps it to its exception); connection
    errors after the first event are resumed from the last event id.
    """
    attempts = 0
    while True:
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
        try:
            with session.get(
                url, headers=headers, stream=True, timeout=(10, HEARTBEAT_GRACE_SECONDS)
            ) as response:
                check(response)
                for event in parse(response.iter_lines(decode_unicode=True)):
                    last_id = event.id or last_id
                    yield event
                return
        except (requests.ConnectionError, requests.Timeout):
            attempts += 1
            if last_id is None or attempts > resumes:
                raise
