"""The HTTP contract of /v1/jobs over real HTTP, with the real Redis and S3 endpoint (no worker)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from contract.jobs import JobStatus
from shared.settings import Settings
from tests.fixtures.live import OTHER_API_KEY, LiveAPI
from tests.images import SHARED_IMAGES, content_bytes, image_size, style_bytes


def submit(api: LiveAPI, data: dict[str, Any] | None = None, files: Any = None,
           headers: dict[str, str] | None = None) -> requests.Response:  # fmt: skip
    if files is None:
        files = [("content", ("c.jpg", content_bytes(), "image/jpeg")),
                 ("style", ("s.jpg", style_bytes(), "image/jpeg"))]  # fmt: skip
    return requests.post(
        f"{api.url}/v1/jobs", data=data or {"size": "64", "iterations": "4"}, files=files,
        headers={**api.headers, **(headers or {})}, timeout=30,
    )  # fmt: skip


def test_submit_answers_202_with_location_and_a_queued_job(live_api: LiveAPI) -> None:
    response = submit(live_api)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["params"]["size"] == 64
    assert str(uuid.UUID(job["id"], version=4)) == job["id"]
    polled = requests.get(
        live_api.url + response.headers["Location"], headers=live_api.headers, timeout=10
    )
    assert polled.status_code == 200 and polled.json()["id"] == job["id"]


def test_submitted_inputs_are_stored_and_the_job_is_queued(live_api: LiveAPI) -> None:
    job = submit(live_api).json()
    storage = live_api.env.storage()
    assert storage.get(f"jobs/{job['id']}/content.jpg").startswith(b"\xff\xd8")  # re-encoded JPEG
    assert storage.exists(f"jobs/{job['id']}/style-0.jpg")
    queue = live_api.env.values["NST_QUEUE"]
    assert live_api.env.store().redis.llen(queue) == 1


def test_params_may_come_as_one_json_field(live_api: LiveAPI) -> None:
    response = submit(live_api, data={"params": '{"size": 48, "optimizer": "adam"}'})
    assert response.status_code == 202
    assert (
        response.json()["params"]["size"] == 48 and response.json()["params"]["optimizer"] == "adam"
    )


def test_several_style_images_with_blend(live_api: LiveAPI) -> None:
    files = [("content", ("c.jpg", content_bytes(), "image/jpeg")),
             ("style", ("a.jpg", style_bytes(), "image/jpeg")),
             ("style", ("b.jpg", style_bytes(name="the_scream.jpg"), "image/jpeg"))]  # fmt: skip
    response = submit(live_api, data={"size": "64", "style_blend": "0.7,0.3"}, files=files)
    assert response.status_code == 202 and response.json()["style_count"] == 2


def test_without_a_key_every_v1_route_answers_401(live_api: LiveAPI) -> None:
    job_id = submit(live_api).json()["id"]
    for method, path in [("GET", "/v1/jobs"), ("GET", f"/v1/jobs/{job_id}"), ("POST", "/v1/jobs"),
                         ("DELETE", f"/v1/jobs/{job_id}"), ("POST", f"/v1/jobs/{job_id}/cancel"),
                         ("GET", f"/v1/jobs/{job_id}/result")]:  # fmt: skip
        for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic abc"}):
            response = requests.request(method, live_api.url + path, headers=headers, timeout=10)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"]["code"] == "unauthorized"


def test_another_keys_job_looks_exactly_like_an_unknown_one(live_api: LiveAPI) -> None:
    job_id = submit(live_api).json()["id"]
    other = {"Authorization": f"Bearer {OTHER_API_KEY}"}
    foreign = requests.get(f"{live_api.url}/v1/jobs/{job_id}", headers=other, timeout=10)
    unknown = requests.get(f"{live_api.url}/v1/jobs/{uuid.uuid4()}", headers=other, timeout=10)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["error"]["code"] == unknown.json()["error"]["code"] == "job_not_found"
    listed = requests.get(f"{live_api.url}/v1/jobs", headers=other, timeout=10).json()
    assert listed["jobs"] == []
    cancel = requests.post(f"{live_api.url}/v1/jobs/{job_id}/cancel", headers=other, timeout=10)
    assert cancel.status_code == 404


def test_list_is_newest_first_paginated_and_filtered(live_api: LiveAPI) -> None:
    ids = [submit(live_api).json()["id"] for _ in range(3)]
    requests.post(f"{live_api.url}/v1/jobs/{ids[0]}/cancel", headers=live_api.headers, timeout=10)
    page = requests.get(
        f"{live_api.url}/v1/jobs?limit=2", headers=live_api.headers, timeout=10
    ).json()
    assert [j["id"] for j in page["jobs"]] == [ids[2], ids[1]]
    rest = requests.get(live_api.url + page["next"], headers=live_api.headers, timeout=10).json()
    assert [j["id"] for j in rest["jobs"]] == [ids[0]] and rest["next"] is None
    cancelled = requests.get(
        f"{live_api.url}/v1/jobs?status=cancelled", headers=live_api.headers, timeout=10
    ).json()
    assert [j["id"] for j in cancelled["jobs"]] == [ids[0]]


def test_cancel_of_a_queued_job_is_final_and_a_second_cancel_changes_nothing(
    live_api: LiveAPI,
) -> None:
    job_id = submit(live_api).json()["id"]
    first = requests.post(
        f"{live_api.url}/v1/jobs/{job_id}/cancel", headers=live_api.headers, timeout=10
    )
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    again = requests.post(
        f"{live_api.url}/v1/jobs/{job_id}/cancel", headers=live_api.headers, timeout=10
    )
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert again.json()["finished_at"] == first.json()["finished_at"]


def test_too_many_active_jobs_answers_429_with_retry_after(live_api: LiveAPI) -> None:
    limit = int(live_api.env.values["NST_MAX_ACTIVE_JOBS_PER_KEY"])
    for _ in range(limit):
        assert submit(live_api).status_code == 202
    refused = submit(live_api)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json()["error"]["code"] == "too_many_jobs"


def test_idempotency_key_returns_the_same_job(live_api: LiveAPI) -> None:
    first = submit(live_api, headers={"Idempotency-Key": "order-42"})
    second = submit(live_api, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == 202 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    listed = requests.get(f"{live_api.url}/v1/jobs", headers=live_api.headers, timeout=10).json()
    assert len(listed["jobs"]) == 1


def test_result_of_an_unfinished_job_is_404(live_api: LiveAPI) -> None:
    job_id = submit(live_api).json()["id"]
    response = requests.get(
        f"{live_api.url}/v1/jobs/{job_id}/result", headers=live_api.headers, timeout=10
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "job_not_found"


def test_health_and_readiness(live_api: LiveAPI) -> None:
    assert requests.get(f"{live_api.url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{live_api.url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["checks"] == {"redis": "ok", "storage": "ok"}


def test_unknown_route_and_method_get_json_errors(live_api: LiveAPI) -> None:
    missing = requests.get(f"{live_api.url}/v2/nothing", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = requests.put(f"{live_api.url}/v1/jobs", headers=live_api.headers, timeout=10)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_metrics_report_queue_and_finished_jobs(live_api: LiveAPI) -> None:
    job_id = submit(live_api).json()["id"]
    requests.post(f"{live_api.url}/v1/jobs/{job_id}/cancel", headers=live_api.headers, timeout=10)
    submit(live_api)
    text = requests.get(f"{live_api.url}/metrics", timeout=10).text
    assert "nst_jobs_queued 1.0" in text
    assert "nst_jobs_submitted_total 2.0" in text
    assert 'nst_jobs_finished_total{reason="cancelled",status="cancelled"} 1.0' in text
    assert 'nst_api_request_seconds_count{method="POST",route="/v1/jobs",status="202"} 2.0' in text


@pytest.mark.parametrize("auth", ["off"])
def test_open_mode_must_be_explicit(auth: str, live_api: LiveAPI) -> None:
    from api.app import create_app
    from contract.errors import ConfigError
    from shared.settings import Settings

    with pytest.raises(ConfigError, match="NST_API_KEYS"):
        create_app(Settings(auth="on", api_keys=()))
    app = create_app(
        Settings(
            auth=auth,
            **{k: live_api.env.values[f"NST_{k.upper()}"] for k in ("redis_url", "key_prefix")},
        )
    )
    assert app.test_client().get("/v1/jobs").status_code == 200


def test_user_file_names_never_reach_storage_keys(live_api: LiveAPI) -> None:
    files = [("content", ("../../../etc/passwd", content_bytes(), "text/html")),
             ("style", ("$(rm -rf ~).png", style_bytes(), "application/x-sh"))]  # fmt: skip
    job = submit(live_api, files=files).json()
    storage = live_api.env.storage()
    assert storage.exists(f"jobs/{job['id']}/content.jpg")
    assert storage.exists(f"jobs/{job['id']}/style-0.jpg")
    client, bucket, prefix = storage.client, storage.bucket, storage.prefix  # type: ignore[attr-defined]
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert sorted(o["Key"].removeprefix(prefix) for o in listed["Contents"]) == [
        f"jobs/{job['id']}/content.jpg",
        f"jobs/{job['id']}/style-0.jpg",
    ]


def test_presigned_urls_expire_after_the_configured_time(live_api: LiveAPI) -> None:
    assert Settings().presign_expiry_seconds == 3600
    job = submit(live_api).json()
    live_api.env.storage().put(f"jobs/{job['id']}/result.png", b"png", "image/png")
    store = live_api.env.store()
    store.mark_running(job["id"], "w", stale_after=60)
    store.finish(job["id"], JobStatus.SUCCEEDED)
    polled = requests.get(
        f"{live_api.url}/v1/jobs/{job['id']}", headers=live_api.headers, timeout=10
    )
    assert "X-Amz-Expires=3600" in polled.json()["result_url"]
    redirect = requests.get(
        f"{live_api.url}/v1/jobs/{job['id']}/result", headers=live_api.headers,
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert redirect.status_code == 302 and "X-Amz-Signature" in redirect.headers["Location"]


def test_two_photos_of_a_quarter_megabyte_each_are_accepted(live_api: LiveAPI) -> None:
    """Regression: a 64 KiB form-memory limit refused ordinary uploads at random."""
    big = (SHARED_IMAGES / "the_scream.jpg").read_bytes()
    other = (SHARED_IMAGES / "starry_night.jpg").read_bytes()
    assert len(big) > 200_000 and len(other) > 200_000
    files = [("content", ("c.jpg", big, "image/jpeg")), ("style", ("s.jpg", other, "image/jpeg"))]
    response = submit(live_api, files=files)
    assert response.status_code == 202, response.text


def test_inputs_are_stored_no_larger_than_the_job_can_use(live_api: LiveAPI) -> None:
    photo = (SHARED_IMAGES / "the_scream.jpg").read_bytes()  # 1200 x 1528
    files = [("content", ("c.jpg", photo, "image/jpeg")), ("style", ("s.jpg", photo, "image/jpeg"))]
    data = {"size": "100", "style_scale": "2.0"}
    job = submit(live_api, data=data, files=files).json()
    storage = live_api.env.storage()
    content = image_size(storage.get(f"jobs/{job['id']}/content.jpg"))
    style = image_size(storage.get(f"jobs/{job['id']}/style-0.jpg"))
    assert 100 <= max(content) < 1528 and 200 <= max(style) < 1528
    assert max(style) > max(content)
