"""The object store going away and coming back: 3 and 60 seconds, and for good."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
import requests

from harness.moto_server import ThreadedS3
from tests.fixtures.live import Env, LiveAPI, WorkerProcess, api_for
from tests.helpers import outage, poller, submit, submit_running, wait_for, wait_status

Start = Callable[..., WorkerProcess]


@pytest.fixture
def flaky_s3(aws_credentials: None) -> Iterator[ThreadedS3]:
    """An S3 endpoint of the test's own that can be stopped and started again on its port."""
    with ThreadedS3() as server:
        server.create_bucket("flaky")
        yield server


def flaky_env(service_env: Env, s3: ThreadedS3, **settings: str) -> Env:
    """The settings on the flaky S3 endpoint; storage budgets at their defaults unless given."""
    values = {k: v for k, v in service_env.values.items() if k != "NST_STORAGE_RETRY_SECONDS"}
    return Env(
        {
            **values,
            "NST_STORAGE_URL": "s3://flaky/jobs",
            "NST_S3_ENDPOINT_URL": s3.endpoint,
            **settings,
        }
    )


def test_api_answers_503_json_when_storage_is_down_and_names_no_address(
    service_env: Env, flaky_s3: ThreadedS3
) -> None:
    env = flaky_env(service_env, flaky_s3)
    with api_for(env) as api:
        flaky_s3.stop()
        started = time.monotonic()
        response = submit_raw(api)
        assert time.monotonic() - started < 10  # the API fails fast; workers are the patient ones
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "storage_unavailable"
        ready = requests.get(f"{api.url}/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["checks"] == {
            "redis": "ok",
            "storage": "unreachable",
        }
        endpoint = urlsplit(env.values["NST_S3_ENDPOINT_URL"])
        for body in (response.text, ready.text):
            for internal in (endpoint.hostname, str(endpoint.port), "flaky", "amazonaws"):
                assert internal not in body, body
        assert env.store().redis.llen(env.values["NST_QUEUE"]) == 0
        assert list(env.store().redis.scan_iter(f"{env.values['NST_KEY_PREFIX']}:job:*")) == []


def submit_raw(api: LiveAPI) -> requests.Response:
    from tests.images import content_bytes, style_bytes

    files = [
        ("content", ("c.jpg", content_bytes(), "image/jpeg")),
        ("style", ("s.jpg", style_bytes(), "image/jpeg")),
    ]
    return requests.post(
        f"{api.url}/v1/jobs", data={"size": "32"}, files=files, headers=api.headers, timeout=60
    )


def test_3_second_storage_outage_is_ridden_out_with_the_default_settings(
    service_env: Env, flaky_s3: ThreadedS3, start_worker: Start
) -> None:
    env = flaky_env(service_env, flaky_s3)
    with api_for(env) as api:
        start_worker(env=env)
        # 200 iterations: a fast CPU ran all of 40 before the outage began (CI, Intel Xeon)
        _, poll = submit_running(api, iterations=200, past=2)
        queued = submit(api, iterations=4, size=32)  # waits behind the running job
        with outage(3, flaky_s3.stop, flaky_s3.start):
            seen = poll()["progress"]["iteration"]  # long enough for checkpoint writes to fail
        final = wait_status(poll, {"succeeded", "failed"}, 240)
        assert final["status"] == "succeeded", final
        assert seen < 200 and final["attempts"] == 1  # ridden out in place, never handed back
        later = wait_status(poller(api, queued["id"]), {"succeeded", "failed"}, 240)
        assert later["status"] == "succeeded", later


def test_60_second_storage_outage_sends_jobs_back_to_the_queue_and_they_resume(
    service_env: Env, flaky_s3: ThreadedS3, start_worker: Start
) -> None:
    """Past the 30 s budget a running job goes back to the queue; it resumes, it never fails."""
    env = flaky_env(service_env, flaky_s3)
    with api_for(env) as api:
        start_worker(env=env)
        job, poll = submit_running(api, iterations=200, past=4)  # still running when it stops
        queued = submit(api, iterations=4, size=32)
        with outage(60, flaky_s3.stop, flaky_s3.start):
            wait_for(
                lambda: env.store().get(job["id"]).outage_retries >= 1,
                90,
                "the running job to go back to the queue",
            )
        final = wait_status(poll, {"succeeded", "failed"}, 300)
        assert final["status"] == "succeeded", final
        assert final["attempts"] >= 2 and final["resumed_from_iteration"] >= 4
        later = wait_status(poller(api, queued["id"]), {"succeeded", "failed"}, 300)
        assert later["status"] == "succeeded", later


def test_job_fails_with_a_clear_message_when_storage_never_comes_back(
    service_env: Env, flaky_s3: ThreadedS3, start_worker: Start
) -> None:
    env = flaky_env(
        service_env,
        flaky_s3,
        NST_STORAGE_RETRY_SECONDS="1",
        NST_MAX_OUTAGE_RETRIES="1",
        NST_OUTAGE_RETRY_DELAY_SECONDS="0.5",
    )
    with api_for(env) as api:
        start_worker(env=env)
        job, _ = submit_running(api, iterations=400, past=2)
        flaky_s3.stop()
        final = wait_status(
            lambda: _status_without_urls(env, job["id"]), {"failed", "succeeded"}, 120
        )
        assert final["status"] == "failed"
        assert final["error"]["code"] == "storage_unavailable"
        assert "object storage" in final["error"]["message"]
        assert "gave up after retrying" in final["error"]["message"]
        assert final["outage_retries"] == 1


def _status_without_urls(env: Env, job_id: str) -> dict[str, object]:
    """Read the record straight from Redis, without the API."""
    return env.store().get(job_id).model_dump(mode="json")
