"""One key cannot hold every connection with event streams or long polls.

Found from outside (issue 21, failure 3): 2100 open event streams, or 2100 ``Prefer: wait``
polls, from one key took every connection of 2 gunicorn workers x 1000, and ``/healthz`` and
every other key timed out. Each stream and long poll now holds one of its key's
NST_MAX_STREAMS_PER_KEY slots, counted in Redis across processes; past it the key gets 429
``too_many_streams`` with Retry-After, and everyone else is served. A small cap here.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from api.container import Services
from client.api_client import Client
from tests.api.conftest import AUTH, post_job
from tests.api.servers import LoggedGunicorn
from tests.api.streams import FILES, next_event, open_stream, read_events
from tests.fixtures.live import API_KEY, OTHER_API_KEY, Env, LiveAPI
from tests.helpers import wait_for

CAP = 3
OTHER = {"Authorization": f"Bearer {OTHER_API_KEY}"}


@pytest.fixture
def service_env(service_env: Env) -> Env:
    return Env(
        {
            **service_env.values,
            "NST_MAX_STREAMS_PER_KEY": str(CAP),
            "NST_EVENTS_HEARTBEAT_SECONDS": "0.5",
        }
    )


@pytest.fixture
def job_id(client: FlaskClient) -> str:
    response = post_job(client, FILES, size=32, iterations=2)
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["id"])


@pytest.fixture
def open_streams(client: FlaskClient, job_id: str) -> Iterator[list[TestResponse]]:
    """CAP streams of the first key, each past its first event (so really open)."""
    streams = [open_stream(client, job_id) for _ in range(CAP)]
    for stream in streams:
        assert stream.status_code == 200
        assert next_event(read_events(stream))[1] == "status"
    yield streams
    for stream in reversed(streams):  # each holds a pushed request context: close last first
        stream.close()


def assert_too_many(response: TestResponse) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"]["code"] == "too_many_streams"
    assert response.headers["Retry-After"].isdigit()


def test_a_key_past_its_cap_gets_429_for_streams_and_long_polls(
    client: FlaskClient, job_id: str, open_streams: list[TestResponse]
) -> None:
    assert_too_many(open_stream(client, job_id))
    assert_too_many(client.get(f"/v1/jobs/{job_id}", headers={**AUTH, "Prefer": "wait=5"}))
    assert client.get(f"/v1/jobs/{job_id}", headers=AUTH).status_code == 200  # a plain poll


def test_other_keys_and_health_checks_get_through_while_one_key_is_at_its_cap(
    client: FlaskClient, job_id: str, open_streams: list[TestResponse]
) -> None:
    own = post_job_as_other(client)
    stream = client.get(f"/v1/jobs/{own}/events", headers=OTHER, buffered=False)
    try:
        assert stream.status_code == 200
    finally:
        stream.close()
    assert client.get("/healthz").status_code == 200


def post_job_as_other(client: FlaskClient, headers: dict[str, str] = OTHER) -> str:
    data = {"size": "32", "iterations": "2"}
    files = {name: (io.BytesIO(content), filename) for name, (content, filename) in FILES}
    response = client.post(
        "/v1/jobs", data={**data, **files}, headers=headers, content_type="multipart/form-data"
    )
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["id"])


def test_a_closed_stream_gives_its_slot_back(
    client: FlaskClient, job_id: str, open_streams: list[TestResponse]
) -> None:
    open_streams.pop().close()
    again = open_stream(client, job_id)
    try:
        assert again.status_code == 200
    finally:
        again.close()


def test_slots_of_a_process_that_died_free_when_their_lease_passes(
    app: Flask, client: FlaskClient, job_id: str
) -> None:
    svc: Services = app.extensions["nst"]
    owner = svc.keys.owner_for(f"Bearer {API_KEY}")
    for _ in range(CAP):
        svc.slots.take(owner, lease_seconds=3)  # never released: their holder "died"
    assert_too_many(open_stream(client, job_id))

    def opens() -> bool:
        response = open_stream(client, job_id)
        response.close()
        return response.status_code == 200

    wait_for(opens, 20, "a stream to open once the dead slots' leases passed", every=0.2)


def test_against_gunicorn_many_connections_of_one_key_leave_others_served(
    service_env: Env, tmp_path: Path
) -> None:
    """The attack as it came: raw connections of one key, over real sockets, on gevent."""
    env = {
        **service_env.process_env(),
        "HOME": str(tmp_path),
        "NST_MAX_STREAMS_PER_KEY": "5",
        "NST_EVENTS_HEARTBEAT_SECONDS": "1",
    }
    server = LoggedGunicorn(env, tmp_path / "api.log")
    try:
        files = [
            ("content", ("c.jpg", FILES[0][1][0], "image/jpeg")),
            ("style", ("s.jpg", FILES[1][1][0], "image/jpeg")),
        ]
        ids = [
            requests.post(
                f"{server.url}/v1/jobs",
                files=files,
                data={"size": "32"},
                headers=headers,
                timeout=30,
            ).json()["id"]
            for headers in (AUTH, OTHER)
        ]
        sockets = [
            socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(40)
        ]
        for sock in sockets:
            sock.sendall(
                f"GET /v1/jobs/{ids[0]}/events HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: {AUTH['Authorization']}\r\n\r\n".encode()
            )
        statuses = sorted(sock.recv(64).split(b" ")[1].decode() for sock in sockets)
        assert statuses == ["200"] * 5 + ["429"] * 35
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
        with requests.get(
            f"{server.url}/v1/jobs/{ids[1]}/events", headers=OTHER, stream=True, timeout=10
        ) as other:
            assert other.status_code == 200
        for sock in sockets:
            sock.close()

        def streams_again() -> bool:  # the server notices closed streams at their heartbeat
            with requests.get(
                f"{server.url}/v1/jobs/{ids[0]}/events", headers=AUTH, stream=True, timeout=10
            ) as again:
                return again.status_code == 200

        wait_for(streams_again, 30, "the closed streams' slots to come back", every=0.2)
    finally:
        server.stop()


def test_a_client_at_the_cap_waits_by_polling_instead(
    live_api: LiveAPI, client: FlaskClient, open_streams: list[TestResponse]
) -> None:
    """The client library and the CLI follow a job's stream; at the cap they poll instead of
    failing with too_many_streams."""
    job = Client(live_api.url, API_KEY).job(post_job_as_other(client, AUTH))
    assert_too_many(open_stream(client, job.id))
    threading.Timer(0.5, lambda: client.post(f"/v1/jobs/{job.id}/cancel", headers=AUTH)).start()
    assert job.wait(poll_interval=0.1, timeout=30).status == "cancelled"
