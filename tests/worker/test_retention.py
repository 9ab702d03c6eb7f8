"""Retention: a finished job's images go after NST_RESULT_TTL, or at once on DELETE.

Against real object storage of both kinds: S3 over HTTP (moto server) and the file backend.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from api.app import create_app
from contract.jobs import JobStatus
from tests.api.conftest import AUTH, post_job
from tests.fixtures.live import Env, WorkerProcess
from tests.helpers import wait_for
from tests.images import content_bytes, style_bytes
from worker.retention import purge_expired

FILES = [("content", (content_bytes(), "c.jpg")), ("style", (style_bytes(), "s.jpg"))]


@pytest.fixture(params=["s3", "file"])
def service_env(request: pytest.FixtureRequest, service_env: Env, tmp_path: Path) -> Env:
    if request.param == "s3":
        return service_env
    return Env({**service_env.values, "NST_STORAGE_URL": f"file://{tmp_path / 'objects'}"})


def finished_job(client: FlaskClient, env: Env) -> str:
    """A job whose worker has written a result and ended it."""
    job_id = post_job(client, FILES, size=32).json["id"]
    store, storage = env.store(), env.storage()
    store.mark_running(job_id, "w@host", stale_after=60)
    storage.put(f"jobs/{job_id}/result.png", b"\x89PNG...", "image/png")
    store.finish(job_id, JobStatus.SUCCEEDED)
    return str(job_id)


def objects_of(env: Env, job_id: str) -> list[str]:
    storage = env.storage()
    names = ("content.jpg", "style-0.jpg", "result.png")
    return [name for name in names if storage.exists(f"jobs/{job_id}/{name}")]


def test_images_older_than_the_ttl_are_purged_and_the_record_says_so(service_env: Env) -> None:
    client = create_app(service_env.settings()).test_client()
    job_id = finished_job(client, service_env)
    fresh = purge_expired(service_env.store(), service_env.storage(), service_env.settings())
    assert fresh == [] and objects_of(service_env, job_id) == [
        "content.jpg",
        "style-0.jpg",
        "result.png",
    ]
    expired = Env({**service_env.values, "NST_RESULT_TTL": "0"}).settings()
    assert purge_expired(service_env.store(), service_env.storage(), expired) == [job_id]
    assert objects_of(service_env, job_id) == []
    shown = client.get(f"/v1/jobs/{job_id}", headers=AUTH).json
    assert shown["images_deleted_at"] and shown["result_url"] is None
    assert client.get(f"/v1/jobs/{job_id}/result", headers=AUTH).status_code == 404
    assert purge_expired(service_env.store(), service_env.storage(), expired) == []  # once


def test_delete_of_a_finished_job_deletes_its_images_now(service_env: Env) -> None:
    client = create_app(service_env.settings()).test_client()
    job_id = finished_job(client, service_env)
    assert client.get(f"/v1/jobs/{job_id}", headers=AUTH).json["images_expire_at"]
    deleted = client.delete(f"/v1/jobs/{job_id}", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json["status"] == "succeeded"
    assert deleted.json["images_deleted_at"] and objects_of(service_env, job_id) == []
    again = client.delete(f"/v1/jobs/{job_id}", headers=AUTH)
    assert again.status_code == 200
    assert again.json["images_deleted_at"] == deleted.json["images_deleted_at"]


def test_a_worker_purges_a_finished_jobs_images_after_the_ttl(
    service_env: Env, start_worker: Callable[..., WorkerProcess]
) -> None:
    """The job is recorded finished as a worker records it (running the engine for it would
    add nothing here): the subject is the worker's housekeeping, which purges it."""
    env = Env({**service_env.values, "NST_RESULT_TTL": "2"})
    client = create_app(env.settings()).test_client()
    job_id = finished_job(client, env)
    assert objects_of(env, job_id) == ["content.jpg", "style-0.jpg", "result.png"]
    start_worker(env=env, wait=False)
    wait_for(lambda: not objects_of(env, job_id), 180, "the worker to purge the images")
    assert client.get(f"/v1/jobs/{job_id}", headers=AUTH).json["images_deleted_at"] is not None
