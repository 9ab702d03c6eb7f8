"""Who is calling: the owner id that scopes every job lookup of the current request."""

from __future__ import annotations

from flask import request

from api.container import services
from contract.errors import InvalidParams
from contract.jobs import Job, is_job_id


def current_owner() -> str:
    """The owner id of the current request (raises Unauthorized)."""
    return services().keys.owner_for(request.headers.get("Authorization"))


def owned_job(job_id: str) -> Job:
    """The caller's job; another owner's job is JobNotFound, exactly like an unknown id."""
    if not is_job_id(job_id):
        raise InvalidParams("not a job id (expected a UUID)", field="job_id")
    return services().store.get(job_id, current_owner())
