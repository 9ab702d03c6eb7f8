"""Webhook fields at submit, the per-key secret, and the webhook queued by a cancel (in-process).

The API's app from the factory with the real Redis and S3; deliveries themselves are tested
with real processes in tests/worker/test_webhooks.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from api.app import create_app
from tests.api.conftest import AUTH, post_job
from tests.fixtures.live import OTHER_API_KEY, Env
from tests.images import content_bytes, style_bytes

FILES = [("content", (content_bytes(), "c.jpg")), ("style", (style_bytes(), "s.jpg"))]
SECRET = "webhook-server-secret-for-tests-0123456789"


def client_for(env: Env, **values: str) -> FlaskClient:
    settings = Env({**env.values, "NST_WEBHOOK_SECRET": SECRET, **values}).settings()
    return create_app(settings, test_config={"TESTING": True}).test_client()


def queued_messages(env: Env, queue: str) -> list[dict[str, Any]]:
    """The Celery messages waiting in a queue (kombu's Redis list), oldest first."""
    raw = env.store().redis.lrange(queue, 0, -1)
    return [json.loads(item) for item in reversed(raw)]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0x7f000001/",
    ],
)
def test_a_private_webhook_target_is_refused_at_submit(service_env: Env, url: str) -> None:
    client = client_for(service_env)
    response = post_job(client, FILES, size=48, webhook_url=url)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "invalid_params"
    assert response.json["error"]["field"] == "webhook_url"
    assert service_env.store().redis.llen(service_env.values["NST_QUEUE"]) == 0  # nothing queued


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"webhook_url": "ftp://hooks.example/"}, "webhook_url"),
        ({"webhook_url": "https://u:p@hooks.example/"}, "webhook_url"),
        ({"webhook_url": "https://hooks.example/" + "x" * 2100}, "webhook_url"),
        ({"webhook_events": "completed"}, "webhook_url"),
        ({"webhook_url": "https://hooks.example/", "webhook_events": "done"}, "webhook_events"),
    ],
)
def test_bad_webhook_fields_are_refused(service_env: Env, form: dict[str, str], field: str) -> None:
    response = post_job(client_for(service_env), FILES, size=48, **form)
    assert response.status_code == 400 and response.json["error"]["field"] == field


def test_webhook_fields_go_on_the_job_not_into_its_params(service_env: Env) -> None:
    client = client_for(service_env, NST_WEBHOOK_ALLOW_PRIVATE="1")
    response = post_job(
        client,
        FILES,
        size=48,
        webhook_url="http://127.0.0.1:9/h",
        webhook_events="progress,completed",
    )
    assert response.status_code == 202, response.json
    assert response.json["webhook"] == {
        "url": "http://127.0.0.1:9/h",
        "events": ["progress", "completed"],
        "attempts": [],
    }
    assert not any(name.startswith("webhook") for name in response.json["params"])


def test_webhook_fields_in_the_params_json_are_unknown_parameters(service_env: Env) -> None:
    """Webhooks are not engine parameters: the one job schema does not take them."""
    client = client_for(service_env, NST_WEBHOOK_ALLOW_PRIVATE="1")
    params = json.dumps({"size": 48, "webhook_url": "http://127.0.0.1:9/h"})
    response = post_job(client, FILES, params=params)
    assert response.status_code == 400 and response.json["error"]["field"] == "webhook_url"


def test_each_key_reads_its_own_secret_and_only_with_the_key(service_env: Env) -> None:
    client = client_for(service_env)
    mine = client.get("/v1/webhook-secret", headers=AUTH)
    again = client.get("/v1/webhook-secret", headers=AUTH)
    other = client.get("/v1/webhook-secret", headers={"Authorization": f"Bearer {OTHER_API_KEY}"})
    assert mine.status_code == 200 and mine.headers["Cache-Control"] == "no-store"
    assert mine.json["secret"].startswith("whsec_")
    assert mine.json["secret"] == again.json["secret"] != other.json["secret"]
    assert client.get("/v1/webhook-secret").status_code == 401


def test_without_a_server_secret_there_are_no_webhooks(client: FlaskClient) -> None:
    response = post_job(client, FILES, size=48, webhook_url="https://hooks.example/")
    assert response.status_code == 400 and response.json["error"]["field"] == "webhook_url"
    secret = client.get("/v1/webhook-secret", headers=AUTH)
    assert secret.status_code == 404 and secret.json["error"]["code"] == "webhooks_disabled"


def test_cancelling_a_queued_job_queues_its_completed_webhook(service_env: Env) -> None:
    """The API, not a worker, ends a job cancelled while queued: it must send the event."""
    queue = f"{service_env.values['NST_KEY_PREFIX']}-webhooks"
    client = client_for(service_env, NST_WEBHOOK_ALLOW_PRIVATE="1", NST_WEBHOOK_QUEUE=queue)
    job = post_job(client, FILES, size=48, webhook_url="http://127.0.0.1:9/h").json
    assert queued_messages(service_env, queue) == []  # no event before the end
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH).status_code == 200
    [message] = queued_messages(service_env, queue)
    assert message["headers"]["task"] == "nst.deliver_webhook"
    args, _, _ = json.loads(base64.b64decode(message["body"]))
    job_id, event, message_id, body = args
    assert (job_id, event, message_id) == (job["id"], "completed", f"{job['id']}.completed")
    payload = json.loads(body)
    assert payload["type"] == "job.completed" and payload["data"]["status"] == "cancelled"
