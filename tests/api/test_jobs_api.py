"""The HTTP contract of /v1/jobs in-process (Flask's test client), with the real Redis and S3
endpoint (no worker): routes, status codes, headers and what is stored are the app's own logic.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from contract.jobs import JobStatus
from shared.settings import Settings
from tests.api.conftest import AUTH
from tests.fixtures.live import OTHER_API_KEY, Env
from tests.images import SHARED_IMAGES, content_bytes, image_size, style_bytes

OTHER = {"Authorization": f"Bearer {OTHER_API_KEY}"}
File = tuple[str, tuple[str, bytes, str]]  # (field, (file name, bytes, content type))


def submit(
    client: FlaskClient,
    data: dict[str, str] | None = None,
    files: list[File] | None = None,
    headers: dict[str, str] | None = None,
) -> TestResponse:
    """A multipart POST /v1/jobs: a small photo and painting, 64 px and 4 iterations unless told."""
    if files is None:
        files = [
            ("content", ("c.jpg", content_bytes(), "image/jpeg")),
            ("style", ("s.jpg", style_bytes(), "image/jpeg")),
        ]
    form: dict[str, Any] = dict(data or {"size": "64", "iterations": "4"})
    for field, (name, content, content_type) in files:
        form.setdefault(field, []).append((io.BytesIO(content), name, content_type))
    return client.post(
        "/v1/jobs",
        data=form,
        headers={**AUTH, **(headers or {})},
        content_type="multipart/form-data",
    )


def test_submit_answers_202_with_location_and_a_queued_job(client: FlaskClient) -> None:
    response = submit(client)
    assert response.status_code == 202, response.json
    job = response.json
    assert job is not None and response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["params"]["size"] == 64
    assert str(uuid.UUID(job["id"], version=4)) == job["id"]
    polled = client.get(response.headers["Location"], headers=AUTH)
    assert polled.status_code == 200 and polled.json["id"] == job["id"]


def test_submitted_inputs_are_stored_and_the_job_is_queued(
    client: FlaskClient, service_env: Env
) -> None:
    job = submit(client).json
    storage = service_env.storage()
    assert storage.get(f"jobs/{job['id']}/content.jpg").startswith(b"\xff\xd8")  # re-encoded JPEG
    assert storage.exists(f"jobs/{job['id']}/style-0.jpg")
    queue = service_env.values["NST_QUEUE"]
    assert service_env.store().redis.llen(queue) == 1


def test_params_may_come_as_one_json_field(client: FlaskClient) -> None:
    response = submit(client, data={"params": '{"size": 48, "optimizer": "adam"}'})
    assert response.status_code == 202
    assert response.json["params"]["size"] == 48 and response.json["params"]["optimizer"] == "adam"


def test_several_style_images_with_blend(client: FlaskClient) -> None:
    files = [
        ("content", ("c.jpg", content_bytes(), "image/jpeg")),
        ("style", ("a.jpg", style_bytes(), "image/jpeg")),
        ("style", ("b.jpg", style_bytes(name="the_scream.jpg"), "image/jpeg")),
    ]
    response = submit(client, data={"size": "64", "style_blend": "0.7,0.3"}, files=files)
    assert response.status_code == 202 and response.json["style_count"] == 2


def test_without_a_key_every_v1_route_answers_401(client: FlaskClient) -> None:
    job_id = submit(client).json["id"]
    for method, path in [
        ("GET", "/v1/jobs"),
        ("GET", f"/v1/jobs/{job_id}"),
        ("POST", "/v1/jobs"),
        ("DELETE", f"/v1/jobs/{job_id}"),
        ("POST", f"/v1/jobs/{job_id}/cancel"),
        ("GET", f"/v1/jobs/{job_id}/result"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic abc"}):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json["error"]["code"] == "unauthorized"


def test_another_keys_job_looks_exactly_like_an_unknown_one(client: FlaskClient) -> None:
    job_id = submit(client).json["id"]
    foreign = client.get(f"/v1/jobs/{job_id}", headers=OTHER)
    unknown = client.get(f"/v1/jobs/{uuid.uuid4()}", headers=OTHER)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json["error"]["code"] == unknown.json["error"]["code"] == "job_not_found"
    assert client.get("/v1/jobs", headers=OTHER).json["jobs"] == []
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=OTHER).status_code == 404


def test_list_is_newest_first_paginated_and_filtered(client: FlaskClient) -> None:
    ids = [submit(client).json["id"] for _ in range(3)]
    client.post(f"/v1/jobs/{ids[0]}/cancel", headers=AUTH)
    page = client.get("/v1/jobs?limit=2", headers=AUTH).json
    assert [j["id"] for j in page["jobs"]] == [ids[2], ids[1]]
    rest = client.get(page["next"], headers=AUTH).json
    assert [j["id"] for j in rest["jobs"]] == [ids[0]] and rest["next"] is None
    cancelled = client.get("/v1/jobs?status=cancelled", headers=AUTH).json
    assert [j["id"] for j in cancelled["jobs"]] == [ids[0]]


def test_cancel_of_a_queued_job_is_final_and_a_second_cancel_changes_nothing(
    client: FlaskClient,
) -> None:
    job_id = submit(client).json["id"]
    first = client.post(f"/v1/jobs/{job_id}/cancel", headers=AUTH)
    assert first.status_code == 200 and first.json["status"] == "cancelled"
    again = client.post(f"/v1/jobs/{job_id}/cancel", headers=AUTH)
    assert again.status_code == 200 and again.json["status"] == "cancelled"
    assert again.json["finished_at"] == first.json["finished_at"]


def test_too_many_active_jobs_answers_429_with_retry_after(
    client: FlaskClient, service_env: Env
) -> None:
    limit = int(service_env.values["NST_MAX_ACTIVE_JOBS_PER_KEY"])
    for _ in range(limit):
        assert submit(client).status_code == 202
    refused = submit(client)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json["error"]["code"] == "too_many_jobs"


def test_idempotency_key_returns_the_same_job(client: FlaskClient) -> None:
    first = submit(client, headers={"Idempotency-Key": "order-42"})
    second = submit(client, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == 202 and second.status_code == 200
    assert first.json["id"] == second.json["id"]
    assert len(client.get("/v1/jobs", headers=AUTH).json["jobs"]) == 1


def test_result_of_an_unfinished_job_is_404(client: FlaskClient) -> None:
    job_id = submit(client).json["id"]
    response = client.get(f"/v1/jobs/{job_id}/result", headers=AUTH)
    assert response.status_code == 404 and response.json["error"]["code"] == "job_not_found"


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"] == {"redis": "ok", "storage": "ok"}


def test_unknown_route_and_method_get_json_errors(client: FlaskClient) -> None:
    missing = client.get("/v2/nothing")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong = client.put("/v1/jobs", headers=AUTH)
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "method_not_allowed"


def test_metrics_report_queue_and_finished_jobs(client: FlaskClient) -> None:
    job_id = submit(client).json["id"]
    client.post(f"/v1/jobs/{job_id}/cancel", headers=AUTH)
    submit(client)
    text = client.get("/metrics").get_data(as_text=True)
    assert "nst_jobs_queued 1.0" in text
    assert "nst_jobs_submitted_total 2.0" in text
    assert 'nst_jobs_finished_total{reason="cancelled",status="cancelled"} 1.0' in text
    assert 'nst_api_request_seconds_count{method="POST",route="/v1/jobs",status="202"} 2.0' in text


def test_open_mode_must_be_explicit(service_env: Env) -> None:
    from api.app import create_app
    from contract.errors import ConfigError

    with pytest.raises(ConfigError, match="NST_API_KEYS"):
        create_app(Settings(auth="on", api_keys=()))
    app = create_app(
        Settings(
            auth="off",
            **{k: service_env.values[f"NST_{k.upper()}"] for k in ("redis_url", "key_prefix")},
        )
    )
    assert app.test_client().get("/v1/jobs").status_code == 200


def test_user_file_names_never_reach_storage_keys(client: FlaskClient, service_env: Env) -> None:
    files = [
        ("content", ("../../../etc/passwd", content_bytes(), "text/html")),
        ("style", ("$(rm -rf ~).png", style_bytes(), "application/x-sh")),
    ]
    job = submit(client, files=files).json
    storage = service_env.storage()
    assert storage.exists(f"jobs/{job['id']}/content.jpg")
    assert storage.exists(f"jobs/{job['id']}/style-0.jpg")
    s3, bucket, prefix = storage.client, storage.bucket, storage.prefix  # type: ignore[attr-defined]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert sorted(o["Key"].removeprefix(prefix) for o in listed["Contents"]) == [
        f"jobs/{job['id']}/content.jpg",
        f"jobs/{job['id']}/style-0.jpg",
    ]


def test_presigned_urls_expire_after_the_configured_time(
    client: FlaskClient, service_env: Env
) -> None:
    assert Settings().presign_expiry_seconds == 3600
    job = submit(client).json
    service_env.storage().put(f"jobs/{job['id']}/result.png", b"png", "image/png")
    store = service_env.store()
    store.mark_running(job["id"], "w", stale_after=60)
    store.finish(job["id"], JobStatus.SUCCEEDED)
    polled = client.get(f"/v1/jobs/{job['id']}", headers=AUTH)
    assert "X-Amz-Expires=3600" in polled.json["result_url"]
    redirect = client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH)
    assert redirect.status_code == 302 and "X-Amz-Signature" in redirect.headers["Location"]


def test_two_photos_of_a_quarter_megabyte_each_are_accepted(client: FlaskClient) -> None:
    """Regression: a 64 KiB form-memory limit refused ordinary uploads at random."""
    big = (SHARED_IMAGES / "the_scream.jpg").read_bytes()
    other = (SHARED_IMAGES / "starry_night.jpg").read_bytes()
    assert len(big) > 200_000 and len(other) > 200_000
    files = [("content", ("c.jpg", big, "image/jpeg")), ("style", ("s.jpg", other, "image/jpeg"))]
    response = submit(client, files=files)
    assert response.status_code == 202, response.json


def test_inputs_are_stored_no_larger_than_the_job_can_use(
    client: FlaskClient, service_env: Env
) -> None:
    photo = (SHARED_IMAGES / "the_scream.jpg").read_bytes()  # 1200 x 1528
    files = [("content", ("c.jpg", photo, "image/jpeg")), ("style", ("s.jpg", photo, "image/jpeg"))]
    job = submit(client, data={"size": "100", "style_scale": "2.0"}, files=files).json
    storage = service_env.storage()
    content = image_size(storage.get(f"jobs/{job['id']}/content.jpg"))
    style = image_size(storage.get(f"jobs/{job['id']}/style-0.jpg"))
    assert 100 <= max(content) < 1528 and 200 <= max(style) < 1528
    assert max(style) > max(content)
