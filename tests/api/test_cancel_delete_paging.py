"""Cancel and delete kept apart, cursor paging, and the small bounds of issue 21 (in-process).

A cancel never deletes (``POST /v1/jobs/{id}/cancel``), a delete never cancels (``DELETE``);
a page never repeats a job when new ones arrive between two requests.
"""

from __future__ import annotations

import threading

import pytest
from flask.testing import FlaskClient

from api.keys import key_digest
from contract.jobs import Job, JobStatus, new_job_id
from contract.params import JobParams
from shared.job_store import JobStore
from shared.storage import JobKeys
from tests.api.conftest import AUTH, post_job
from tests.fixtures.live import API_KEY, OTHER_API_KEY, Env
from tests.images import content_bytes, style_bytes

FILES = [("content", (content_bytes(), "c.jpg")), ("style", (style_bytes(), "s.jpg"))]
OWNER = key_digest(API_KEY)[:16]


def make_job(store: JobStore, created_at: float | None = None) -> Job:
    """A queued job of the test key's owner, recorded directly (no images needed to list it)."""
    job = Job(id=new_job_id(), owner=OWNER, params=JobParams(size=48), style_count=1)
    if created_at is not None:
        job.created_at = created_at
    return store.create(job)


def submitted(client: FlaskClient) -> str:
    response = post_job(client, FILES, size=48)
    assert response.status_code == 202, response.json
    return str(response.json["id"])


@pytest.fixture
def finished_job(client: FlaskClient, service_env: Env) -> str:
    """A job submitted through the API (its images stored) that a worker claimed and finished,
    recorded in the job store as the worker records it."""
    job_id = submitted(client)
    store = service_env.store()
    store.mark_running(job_id, "w@host", stale_after=60)
    store.finish(job_id, JobStatus.SUCCEEDED)
    return job_id


# -- cancel ----------------------------------------------------------------------------------
def test_cancel_of_a_queued_job_ends_it_and_a_retry_answers_the_same(client: FlaskClient) -> None:
    job_id = submitted(client)
    first = client.post(f"/v1/jobs/{job_id}/cancel", headers=AUTH)
    again = client.post(f"/v1/jobs/{job_id}/cancel", headers=AUTH)
    assert (first.status_code, first.json["status"]) == (200, "cancelled")
    assert (again.status_code, again.json["status"]) == (200, "cancelled")


def test_cancel_of_a_running_job_asks_it_to_stop(client: FlaskClient, service_env: Env) -> None:
    job_id = submitted(client)
    service_env.store().mark_running(job_id, "w@host", stale_after=60)
    response = client.post(f"/v1/jobs/{job_id}/cancel", headers=AUTH)
    assert response.status_code == 202
    assert response.json["status"] == "running" and response.json["cancel_requested"] is True


def test_cancel_that_arrives_after_success_keeps_the_result(
    client: FlaskClient, service_env: Env, finished_job: str
) -> None:
    """Found from outside: a DELETE meant as a cancel, just after success, deleted the picture."""
    job_id = finished_job
    response = client.post(f"/v1/jobs/{job_id}/cancel", headers=AUTH)
    assert response.status_code == 409 and response.json["error"]["code"] == "job_finished"
    job = client.get(f"/v1/jobs/{job_id}", headers=AUTH).json
    assert job["status"] == "succeeded" and job["images_deleted_at"] is None
    assert service_env.storage().exists(JobKeys(job_id).content)


def test_cancel_racing_the_finish_either_cancels_or_keeps_the_result(
    client: FlaskClient, service_env: Env
) -> None:
    """Cancels and the worker's finish at once: whichever wins, no image is ever deleted."""
    store = service_env.store()
    for _ in range(10):
        job_id = submitted(client)
        store.mark_running(job_id, "w@host", stale_after=60)
        answers: list[int] = []

        def cancel(job_id: str = job_id, answers: list[int] = answers) -> None:
            own = client.application.test_client()  # one client per thread
            answers.append(own.post(f"/v1/jobs/{job_id}/cancel", headers=AUTH).status_code)

        cancels = [threading.Thread(target=cancel) for _ in range(3)]
        for thread in cancels:
            thread.start()
        store.finish(job_id, JobStatus.SUCCEEDED)
        for thread in cancels:
            thread.join(timeout=30)
        assert set(answers) <= {202, 409} and len(answers) == 3
        assert store.get(job_id).status == JobStatus.SUCCEEDED
        assert service_env.storage().exists(JobKeys(job_id).content)


# -- delete ----------------------------------------------------------------------------------
def test_delete_of_an_active_job_is_refused_and_does_not_cancel_it(
    client: FlaskClient, service_env: Env
) -> None:
    job_id = submitted(client)
    response = client.delete(f"/v1/jobs/{job_id}", headers=AUTH)
    assert response.status_code == 409 and response.json["error"]["code"] == "job_active"
    assert f"/v1/jobs/{job_id}/cancel" in response.json["error"]["message"]
    assert service_env.store().get(job_id).status == JobStatus.QUEUED
    assert service_env.storage().exists(JobKeys(job_id).content)


def test_delete_of_a_finished_job_removes_its_images_and_a_retry_answers_the_same(
    client: FlaskClient, service_env: Env, finished_job: str
) -> None:
    job_id = finished_job
    first = client.delete(f"/v1/jobs/{job_id}", headers=AUTH)
    again = client.delete(f"/v1/jobs/{job_id}", headers=AUTH)
    assert first.status_code == again.status_code == 200
    assert first.json["status"] == "succeeded" and first.json["images_deleted_at"] is not None
    assert again.json["images_deleted_at"] == first.json["images_deleted_at"]
    assert not service_env.storage().exists(JobKeys(job_id).content)
    assert client.get(f"/v1/jobs/{job_id}/result", headers=AUTH).status_code == 404


def test_delete_of_another_keys_job_is_not_found(
    client: FlaskClient, service_env: Env, finished_job: str
) -> None:
    job_id = finished_job
    other = {"Authorization": f"Bearer {OTHER_API_KEY}"}
    response = client.delete(f"/v1/jobs/{job_id}", headers=other)
    assert response.status_code == 404 and response.json["error"]["code"] == "job_not_found"
    assert service_env.storage().exists(JobKeys(job_id).content)


# -- paging ----------------------------------------------------------------------------------
def test_new_jobs_between_two_pages_repeat_nothing(client: FlaskClient, service_env: Env) -> None:
    """Found from outside: with offsets, jobs created between page 1 and 2 repeated items."""
    store = service_env.store()
    old = [make_job(store, 1000.0 + i) for i in range(5)]
    first = client.get("/v1/jobs?limit=2", headers=AUTH).json
    assert [j["id"] for j in first["jobs"]] == [old[4].id, old[3].id]
    for _ in range(3):
        make_job(store)  # newer than all of them
    second = client.get(first["next"], headers=AUTH).json
    assert [j["id"] for j in second["jobs"]] == [old[2].id, old[1].id]
    third = client.get(f"/v1/jobs?limit=2&cursor={second['next_cursor']}", headers=AUTH).json
    assert [j["id"] for j in third["jobs"]] == [old[0].id]
    assert third["next"] is None and third["next_cursor"] is None


def test_jobs_created_in_the_same_instant_are_each_listed_once(
    client: FlaskClient, service_env: Env
) -> None:
    store = service_env.store()
    same = {make_job(store, 2000.0).id for _ in range(7)}
    seen: list[str] = []
    url: str | None = "/v1/jobs?limit=3"
    while url:
        page = client.get(url, headers=AUTH).json
        seen += [j["id"] for j in page["jobs"]]
        url = page["next"]
    assert sorted(seen) == sorted(same)


def test_the_next_link_keeps_the_status_filter_and_limit(
    client: FlaskClient, service_env: Env
) -> None:
    store = service_env.store()
    jobs = [make_job(store, 3000.0 + i) for i in range(5)]
    for job in jobs[:4]:
        store.request_cancel(job.id, OWNER)
    first = client.get("/v1/jobs?status=cancelled&limit=3", headers=AUTH).json
    assert "status=cancelled" in first["next"] and "limit=3" in first["next"]
    second = client.get(first["next"], headers=AUTH).json
    assert [j["id"] for j in second["jobs"]] == [jobs[0].id]


def test_offset_still_answers_but_is_deprecated(client: FlaskClient, service_env: Env) -> None:
    store = service_env.store()
    jobs = [make_job(store, 4000.0 + i) for i in range(3)]
    response = client.get("/v1/jobs?limit=1&offset=1", headers=AUTH)
    assert [j["id"] for j in response.json["jobs"]] == [jobs[1].id]
    assert response.headers["Deprecation"].startswith("@")
    assert "cursor=" in response.json["next"]  # following next moves to cursors
    both = client.get(f"/v1/jobs?offset=1&cursor={response.json['next_cursor']}", headers=AUTH)
    assert both.status_code == 400 and both.json["error"]["field"] == "offset"


def test_a_cursor_the_service_did_not_give_is_a_400_naming_it(client: FlaskClient) -> None:
    for cursor in ("x", "%C2%B2", "W10", "bm90IGpzb24", "WzEsImEiXQ", "A" * 5000):
        response = client.get(f"/v1/jobs?cursor={cursor}", headers=AUTH)
        assert response.status_code == 400, cursor
        assert response.json["error"]["field"] == "cursor"
        assert len(response.json["error"]["message"]) < 200


# -- small bounds ----------------------------------------------------------------------------
def test_idempotency_key_is_bounded_and_printable(client: FlaskClient, service_env: Env) -> None:
    """Found from outside: an 8000-character Idempotency-Key was accepted (and stored)."""
    for key in ("k" * 8000, "k" * 256, "tab\there", "clé", ""):
        response = client.post("/v1/jobs", headers={**AUTH, "Idempotency-Key": key})
        assert response.status_code == 400, key[:20]
        assert response.json["error"]["code"] == "invalid_idempotency_key"
        assert len(response.json["error"]["message"]) < 200
    assert post_job(client, FILES, size=48, key="k" * 255).status_code == 202
    assert service_env.store().redis.llen(service_env.values["NST_QUEUE"]) == 1


def test_a_long_preset_name_is_not_echoed_back(client: FlaskClient) -> None:
    """Found from outside: a 100 KB style_preset came back whole in the error message."""
    response = post_job(client, FILES[:1], size=48, style_preset="p" * 100_000)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "style_preset"
    assert len(response.json["error"]["message"]) < 300


def test_seventy_files_name_the_file_limit(client: FlaskClient, service_env: Env) -> None:
    """Found from outside: 70 file parts got 413 upload_too_large, which names the byte limit."""
    style = ("style", (style_bytes(32), "s.jpg"))
    response = post_job(client, [FILES[0], *[style] * 69], size=48)
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "too_many_files" and error["field"] == "style"
    assert f"at most {service_env.settings().max_style_images} style images" in error["message"]
