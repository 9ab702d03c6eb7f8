"""``client.api_client`` against the live API and a real worker: typed results and typed errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from client.api_client import Client, JobHandle
from contract.errors import ImageError, InvalidParams, JobNotFound, ServiceUnreachable, Unauthorized
from contract.jobs import JobStatus
from contract.resources import JobResource
from tests.fixtures.live import API_KEY, LiveAPI, WorkerProcess
from tests.images import content_bytes, image_size, style_bytes


def test_submit_wait_and_download_a_png(
    live_api: LiveAPI, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker()
    client = Client(live_api.url, API_KEY)
    job = client.submit(
        content_bytes(64),
        [style_bytes(64)],
        size=48,
        iterations=8,
        optimizer="adam",
        checkpoint_every=2,
    )
    assert job.status == "queued"
    iterations: list[int] = []

    def on_progress(current: JobHandle) -> None:
        if current.progress is not None:
            iterations.append(current.progress.iteration)

    job.wait(progress=on_progress, poll_interval=0.1, timeout=120)
    assert job.status == "succeeded", job.error
    assert iterations == sorted(iterations) and iterations[-1] == 8
    assert len(set(iterations)) >= 2, iterations
    result = job.result_bytes()
    assert result.startswith(b"\x89PNG") and image_size(result)[0] == 48
    assert client.job(job.id).status == "succeeded"
    assert [j.id for j in client.jobs(status="succeeded")] == [job.id]


def test_bad_parameter_raises_invalid_params_naming_the_field(live_api: LiveAPI) -> None:
    client = Client(live_api.url, API_KEY)
    with pytest.raises(InvalidParams) as caught:
        client.submit(content_bytes(64), style_bytes(64), iterations=0)
    assert caught.value.field == "iterations"


def test_non_image_raises_image_error(live_api: LiveAPI) -> None:
    with pytest.raises(ImageError, match="content image is not a JPEG"):
        Client(live_api.url, API_KEY).submit(b"plain text", style_bytes(64), size=48)


def test_unknown_job_id_raises_job_not_found(live_api: LiveAPI) -> None:
    with pytest.raises(JobNotFound):
        Client(live_api.url, API_KEY).job("00000000-0000-4000-8000-000000000000")


def test_wrong_key_raises_unauthorized(live_api: LiveAPI) -> None:
    with pytest.raises(Unauthorized) as caught:
        Client(live_api.url, "not-a-key").jobs()
    assert caught.value.status == 401


def test_unreachable_service_raises_service_unreachable() -> None:
    client = Client("http://127.0.0.1:9", API_KEY, timeout=2, retries=1)
    with pytest.raises(ServiceUnreachable, match="cannot reach the service"):
        client.jobs()


def test_answers_come_back_as_typed_models(live_api: LiveAPI) -> None:
    """The client parses each answer into its contract model: typed fields, not a dict."""
    client = Client(live_api.url, API_KEY)
    job = client.submit(content_bytes(64), style_bytes(64), size=48, iterations=4)
    assert isinstance(job.resource, JobResource) and job.status is JobStatus.QUEUED
    assert job.resource.params.size == 48 and job.resource.style_count == 1
    assert job.resource.created_at.tzinfo is not None and job.resource.finished_at is None
    page = client.jobs(limit=1)
    assert [j.id for j in page] == [job.id] and page[0].resource.params == job.resource.params
    job.cancel()
    assert job.status is JobStatus.CANCELLED and job.resource.finished_at is not None
    assert job.is_final and job.resource.links.self.endswith(f"/v1/jobs/{job.id}")
    assert client.presets() == []  # none configured here; each would be a typed Preset
