"""A queued job's new place in the queue reaches conditional GETs, long polls and streams.

Found from outside (issue 21, weak spots): a queued job went from second to first, but
``If-None-Match`` still got 304, a ``Prefer: wait`` poll answered 304 when its wait ran out,
and the event stream sent nothing: the ETag and the event id were the record's version, which
does not change when a job ahead leaves the queue. Both are now the state tag (version and
place), and the store announces a job leaving the queue so waiters on queued jobs wake.
"""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from api.container import Services
from tests.api.conftest import AUTH, post_job
from tests.api.streams import FILES, next_event, open_stream, read_events
from tests.fixtures.live import Env


@pytest.fixture
def app(service_env: Env) -> Flask:
    env = Env({**service_env.values, "NST_EVENTS_HEARTBEAT_SECONDS": "0.5"})
    return create_app(env.settings(), test_config={"TESTING": True})


def queued(client: FlaskClient) -> str:
    response = post_job(client, FILES, size=32, iterations=2)
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["id"])


def leave_queue_later(app: Flask, job_id: str, after: float) -> threading.Thread:
    """The job ahead leaves the queue (it is cancelled) after ``after`` seconds."""
    svc: Services = app.extensions["nst"]

    def leave() -> None:
        time.sleep(after)
        job = svc.store.get(job_id)
        svc.store.request_cancel(job.id, job.owner)

    thread = threading.Thread(target=leave)
    thread.start()
    return thread


def test_the_etag_of_a_queued_job_changes_when_it_moves_up(app: Flask, client: FlaskClient) -> None:
    ahead, behind = queued(client), queued(client)
    first = client.get(f"/v1/jobs/{behind}", headers=AUTH)
    assert first.get_json()["queue_position"] == 2
    etag = first.headers["ETag"]
    conditional = {**AUTH, "If-None-Match": etag}
    assert client.get(f"/v1/jobs/{behind}", headers=conditional).status_code == 304
    leave_queue_later(app, ahead, 0).join()
    moved = client.get(f"/v1/jobs/{behind}", headers=conditional)
    assert moved.status_code == 200
    assert moved.get_json()["queue_position"] == 1 and moved.headers["ETag"] != etag


def test_a_long_poll_on_a_queued_job_answers_when_it_moves_up(
    app: Flask, client: FlaskClient
) -> None:
    ahead, behind = queued(client), queued(client)
    etag = client.get(f"/v1/jobs/{behind}", headers=AUTH).headers["ETag"]
    mover = leave_queue_later(app, ahead, 0.3)
    started = time.monotonic()
    response = client.get(
        f"/v1/jobs/{behind}", headers={**AUTH, "If-None-Match": etag, "Prefer": "wait=60"}
    )
    mover.join()
    assert response.status_code == 200
    assert response.get_json()["queue_position"] == 1
    assert time.monotonic() - started < 45  # woken by the move, not by the end of the wait


def test_the_event_stream_of_a_queued_job_sends_its_new_place(
    app: Flask, client: FlaskClient
) -> None:
    ahead, behind = queued(client), queued(client)
    stream = open_stream(client, behind)
    try:
        events = read_events(stream)
        first_id, name, data = next_event(events)
        assert (name, data["queue_position"]) == ("status", 2)
        mover = leave_queue_later(app, ahead, 0.3)
        moved_id, name, data = next_event(events)
        mover.join()
        assert (name, data["status"], data["queue_position"]) == ("status", "queued", 1)
        assert moved_id != first_id
    finally:
        stream.close()
