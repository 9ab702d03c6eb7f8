"""``JobHandle`` keeps its job as the typed resource while events arrive (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from client.api_client import Client, JobHandle
from client.event_stream import ServerEvent
from contract.jobs import JobStatus
from contract.params import JobParams
from contract.resources import JobProgress, JobResource

JOB_ID = "3f2b5c1e-8d4a-4b7e-9c1d-2a6f0e9b7c43"


def queued() -> dict[str, Any]:
    """A queued job's answer, as the API sends it."""
    stamp = "2026-11-25T18:00:00.000Z"
    return {
        "id": JOB_ID,
        "status": "queued",
        "queue_position": 2,
        "progress": None,
        "preview_url": None,
        "result_url": None,
        "error": None,
        "cancel_requested": False,
        "attempts": 0,
        "resumed_from_iteration": None,
        "created_at": stamp,
        "updated_at": stamp,
        "started_at": None,
        "finished_at": None,
        "images_expire_at": None,
        "images_deleted_at": None,
        "style_count": 1,
        "params": JobParams(size=64).model_dump(mode="json"),
        "loss_weights": None,
        "timing": None,
        "webhook": None,
        "links": {"self": f"/v1/jobs/{JOB_ID}"},
    }


def handle() -> JobHandle:
    return JobHandle(Client("http://127.0.0.1:9"), JobResource.model_validate(queued()))


def test_a_status_event_updates_the_typed_fields_it_carries() -> None:
    job = handle()
    job._apply(
        ServerEvent(
            "1", "status", {"status": "running", "queue_position": None, "cancel_requested": True}
        )
    )
    assert job.status is JobStatus.RUNNING and job.resource.cancel_requested
    assert job.resource.queue_position is None and job.resource.params.size == 64


def test_progress_and_preview_events_become_typed_progress_and_a_url() -> None:
    job = handle()
    progress = {
        "iteration": 2,
        "total": 4,
        "percent": 50.0,
        "losses": None,
        "elapsed_seconds": 1.0,
        "eta_seconds": 1.0,
        "stopped_early": False,
        "iterations_saved": 0,
    }
    job._apply(ServerEvent("2", "progress", progress))
    job._apply(ServerEvent("2", "preview", {"iteration": 2, "url": "/v1/jobs/x/preview"}))
    assert job.progress == JobProgress.model_validate(progress)
    assert job.preview_url == "/v1/jobs/x/preview"


def test_a_final_event_replaces_the_whole_resource() -> None:
    job = handle()
    ended = {
        **queued(),
        "status": "cancelled",
        "queue_position": None,
        "finished_at": "2026-11-25T18:01:00.000Z",
    }
    job._apply(ServerEvent("3", "cancelled", ended))
    assert job.is_final and job.resource.finished_at is not None
    assert job.resource.model_dump(mode="json") == ended


def test_an_event_that_is_not_a_jobs_raises_a_validation_error() -> None:
    """``wait`` catches it (a ValueError) and polls instead of keeping a half-read job."""
    job = handle()
    with pytest.raises(ValidationError):
        job._apply(ServerEvent("4", "progress", {"iteration": "many"}))
    assert job.progress is None


def test_a_newer_servers_fields_are_read_past_in_the_job_and_its_params() -> None:
    """JobParams forbids unknown names (a caller's typo); an answer's new ones are not typos."""
    job = handle()
    newer = {
        **queued(),
        "status": "cancelled",
        "priority": 3,
        "params": {**queued()["params"], "sharpness": 0.5},
    }
    job._apply(ServerEvent("5", "cancelled", newer))
    assert job.status is JobStatus.CANCELLED and job.resource.params.size == 64
