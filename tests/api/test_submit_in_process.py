"""View logic in-process (Flask's test client, the real Redis and S3): a loop of seconds.

Idempotency-Key reuse with another request, limits checked once at the entry (a record
accepted under raised limits stays readable), and the public ``/v1/meta``.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from contract.jobs import JobStatus
from tests.api.conftest import AUTH, post_job
from tests.fixtures.live import Env
from tests.images import content_bytes, style_bytes

FILES = [("content", (content_bytes(), "c.jpg")), ("style", (style_bytes(), "s.jpg"))]


def test_same_idempotency_key_and_request_returns_the_first_job(client: FlaskClient) -> None:
    first = post_job(client, FILES, size=48, key="k-1")
    again = post_job(client, FILES, size=48, key="k-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json["id"] == first.json["id"]


def test_idempotency_key_reused_with_another_request_answers_422(
    client: FlaskClient, service_env: Env
) -> None:
    """Found from outside: a different body with a used key silently returned the old job."""
    first = post_job(client, FILES, size=48, key="k-2")
    other = post_job(client, FILES, size=64, key="k-2")
    assert first.status_code == 202
    assert other.status_code == 422
    assert other.json["error"]["code"] == "idempotency_key_reused"
    assert service_env.store().redis.llen(service_env.values["NST_QUEUE"]) == 1


def test_a_job_accepted_under_raised_limits_stays_readable(service_env: Env) -> None:
    """Found in review: records were re-validated against the default limits on every read."""
    raised = Env({**service_env.values, "NST_MAX_SIZE": "4096", "NST_MAX_ITERATIONS": "5000"})
    client = create_app(raised.settings()).test_client()
    response = post_job(client, FILES, size=2048, iterations=2, checkpoint_every=2500)
    assert response.status_code == 202, response.json
    polled = client.get(f"/v1/jobs/{response.json['id']}", headers=AUTH)
    assert polled.status_code == 200 and polled.json["params"]["size"] == 2048
    claimed = raised.store().mark_running(response.json["id"], "w@host", stale_after=60)
    assert claimed is not None and claimed.status == JobStatus.RUNNING  # the worker can run it


def test_default_size_gives_way_to_a_lower_limit(client: FlaskClient, app: Flask) -> None:
    """NST_MAX_SIZE below the schema's default (512): a job that gives no size is not refused."""
    response = post_job(client, FILES)
    assert response.status_code == 202, response.json
    assert response.json["params"]["size"] == app.extensions["nst"].limits.max_size


def test_meta_is_public_and_says_whether_keys_are_needed(client: FlaskClient) -> None:
    meta = client.get("/v1/meta")
    assert meta.status_code == 200 and meta.json["auth"] is True
    assert meta.json["image_types"] == ["image/jpeg", "image/png", "image/webp"]
