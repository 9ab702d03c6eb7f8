"""Live updates over real HTTP: server-sent events, ``Prefer: wait`` and ETags.

A real SSE client (``requests`` streaming) against the live API, the real Redis and a real
worker; the job's changes arrive as events without polling, and a reconnect with
``Last-Event-ID`` gets only what it has not seen.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fixtures.live import Env, LiveAPI
from tests.helpers import submit

Event = tuple[str | None, str, Any]  # the id is the state tag: "version" or "version.place"


@pytest.fixture
def service_env(service_env: Env) -> Env:
    return Env({**service_env.values, "NST_EVENTS_HEARTBEAT_SECONDS": "0.5"})


def events(api: LiveAPI, job_id: str, last: str | None = None) -> Iterator[Event]:
    """Parse the stream as a browser would: (id, event, data) per blank-line-ended block."""
    headers = {**api.headers, **({"Last-Event-ID": last} if last is not None else {})}
    with requests.get(
        f"{api.url}/v1/jobs/{job_id}/events", headers=headers, stream=True, timeout=60
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        for line in response.iter_lines(decode_unicode=True):
            if line == "":
                if "event" in block:
                    yield block.get("id"), block["event"], json.loads(block["data"])
                block = {}
            elif line.startswith(":"):
                yield None, "heartbeat", None
            else:
                field, _, value = line.partition(": ")
                block[field] = value


def version(event_id: str | None) -> int:
    assert event_id is not None
    return int(event_id.partition(".")[0])


def cancel(api: LiveAPI, job_id: str, after: float = 0.0) -> None:
    time.sleep(after)
    requests.post(f"{api.url}/v1/jobs/{job_id}/cancel", headers=api.headers, timeout=10)


def test_a_job_streams_progress_previews_and_its_end_then_the_stream_closes(
    worker_api: LiveAPI,
) -> None:
    job = submit(worker_api, iterations=8, checkpoint_every=2)
    seen = [e for e in events(worker_api, job["id"]) if e[1] != "heartbeat"]
    names = [name for _, name, _ in seen]
    assert names[0] == "status" and names[-1] == "succeeded", names
    progress = [data for _, name, data in seen if name == "progress"]
    assert [p["iteration"] for p in progress][-1] == 8 and progress[0]["total"] == 8
    assert {"losses", "eta_seconds", "percent"} <= set(progress[0])
    assert any(name == "preview" for name in names)
    assert seen[-1][2]["result_url"]
    versions = [version(event_id) for event_id, _, _ in seen]
    assert versions == sorted(versions)


def test_reconnecting_with_last_event_id_sends_only_what_is_new(live_api: LiveAPI) -> None:
    job = submit(live_api)  # no worker: it stays queued
    stream = events(live_api, job["id"])
    first_id, first, data = next(stream)
    assert first == "status" and data["status"] == "queued" and data["queue_position"] == 1
    assert next(stream)[1] == "heartbeat"  # an idle stream says it is alive
    stream.close()
    threading.Thread(target=cancel, args=(live_api, job["id"], 0.3)).start()
    again = [e for e in events(live_api, job["id"], last=first_id) if e[1] != "heartbeat"]
    assert [name for _, name, _ in again] == ["cancelled"]
    assert version(again[0][0]) > version(first_id)
    assert list(events(live_api, job["id"], last=again[0][0])) == []  # ended: closes at once


def test_prefer_wait_answers_as_soon_as_the_job_changes(live_api: LiveAPI) -> None:
    job = submit(live_api)
    threading.Thread(target=cancel, args=(live_api, job["id"], 0.5)).start()
    started = time.monotonic()
    headers = {**live_api.headers, "Prefer": "wait=60"}
    response = requests.get(f"{live_api.url}/v1/jobs/{job['id']}", headers=headers, timeout=90)
    assert 0.4 < time.monotonic() - started < 45  # woken by the cancel, not by the wait's end
    assert response.json()["status"] == "cancelled"
    assert response.headers["Preference-Applied"] == "wait=60"


def test_etag_gives_304_when_nothing_changed_even_after_a_wait(live_api: LiveAPI) -> None:
    url = f"{live_api.url}/v1/jobs/{submit(live_api)['id']}"
    first = requests.get(url, headers=live_api.headers, timeout=10)
    etag = first.headers["ETag"]
    unchanged = requests.get(url, headers={**live_api.headers, "If-None-Match": etag}, timeout=10)
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == etag
    started = time.monotonic()
    waited = requests.get(
        url, headers={**live_api.headers, "If-None-Match": etag, "Prefer": "wait=1"}, timeout=10
    )
    assert waited.status_code == 304 and time.monotonic() - started > 0.9  # it did wait
