"""The OpenAPI 3 document at ``/v1/openapi.json``.

The job parameters' schema is generated from ``shared.params.JobParams`` so the
document cannot drift from what the API validates; the rest is written here.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify

from api.auth import current_owner
from api.jobs import MAX_PAGE
from shared.jobs import JobStatus
from shared.params import JobParams

STATUSES = [status.value for status in JobStatus]
JOB_ID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def _prop(kind: str | list[str], description: str, example: Any, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "description": description, "example": example, **extra}


def _losses() -> dict[str, Any]:
    return {
        "type": ["object", "null"],
        "description": "Loss terms at the latest checkpoint (already weighted).",
        "properties": {
            name: _prop("number", f"{name} loss", 1234.5)
            for name in ("content", "style", "tv", "total")
        },
    }


def _progress() -> dict[str, Any]:
    return {
        "type": ["object", "null"],
        "description": "The latest checkpoint; null until the first one.",
        "properties": {
            "iteration": _prop("integer", "Iterations done, over all scales.", 50),
            "total": _prop("integer", "Iterations in the whole job.", 300),
            "percent": _prop("number", "iteration / total, in percent.", 16.7),
            "losses": _losses(),
            "elapsed_seconds": _prop("number", "Optimization time so far.", 12.5),
            "eta_seconds": _prop(
                ["number", "null"], "Estimated seconds left at the pace so far.", 62.5
            ),
        },
    }


def _job_schema() -> dict[str, Any]:
    stamp = "2026-11-25T18:00:00.000Z"
    return {
        "type": "object",
        "properties": {
            "id": _prop(
                "string", "Job id (UUID4), also the Celery task id.", "3f2b…", format="uuid"
            ),
            "status": _prop("string", "Where the job is in its life.", "running", enum=STATUSES),
            "progress": _progress(),
            "preview_url": _prop(
                ["string", "null"], "Latest checkpoint image (time-limited URL).", None
            ),
            "result_url": _prop(
                ["string", "null"], "The result image once succeeded (time-limited).", None
            ),
            "error": {
                "type": ["object", "null"],
                "description": "Why the job failed; null otherwise.",
                "properties": {
                    "code": _prop("string", "Stable error code.", "invalid_image"),
                    "message": _prop("string", "What went wrong, in words.", "style 1 is empty"),
                },
            },
            "cancel_requested": _prop(
                "boolean", "A cancel was asked and is being honoured.", False
            ),
            "attempts": _prop("integer", "How many times a worker started the job.", 1),
            "resumed_from_iteration": _prop(
                ["integer", "null"], "Iteration a redelivered job resumed from.", None
            ),
            "created_at": _prop("string", "When the job was submitted (UTC).", stamp),
            "updated_at": _prop("string", "Last change to the record (UTC).", stamp),
            "started_at": _prop(["string", "null"], "First start on a worker (UTC).", stamp),
            "finished_at": _prop(["string", "null"], "When it reached a final state (UTC).", None),
            "style_count": _prop("integer", "Number of style images.", 1),
            "params": {"$ref": "#/components/schemas/JobParams"},
            "links": {
                "type": "object",
                "description": "Related URLs.",
                "properties": {"self": _prop("string", "This job's status URL.", "/v1/jobs/3f2b…")},
            },
        },
    }


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Every error the API returns.",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": _prop("string", "Stable, machine-readable code.", "invalid_params"),
                    "message": _prop(
                        "string", "Human-readable reason.", "size: must be at most 1024"
                    ),
                    "field": _prop("string", "The parameter at fault, when there is one.", "size"),
                },
                "required": ["code", "message"],
            }
        },
        "required": ["error"],
    }


def _params_schema() -> dict[str, Any]:
    schema = JobParams.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("title", None)
    for name, prop in schema.get("properties", {}).items():
        prop.setdefault("example", prop.get("default", prop.get("examples", [None])[0]))
        prop.pop("examples", None)
        prop.setdefault("description", name)
    return schema


def _error_responses(*codes: int) -> dict[str, Any]:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {str(code): {"description": "Error", **ref} for code in codes}


def _job_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Job"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _image_response(description: str, media_type: str) -> dict[str, Any]:
    schema = {"type": "string", "format": "binary"}
    return {"description": description, "content": {media_type: {"schema": schema}}}


def _job_list_response() -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["jobs", "next"],
        "properties": {
            "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
            "next": _prop(["string", "null"], "URL of the next page; null on the last.", None),
        },
    }
    return {"description": "A page of jobs", "content": {"application/json": {"schema": schema}}}


def _list_parameters() -> list[dict[str, Any]]:
    return [
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": STATUSES}},
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        },
    ]


def _paths() -> dict[str, Any]:
    job_id = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "description": "A job id as returned on submission: a lower-case UUID.",
        "schema": {"type": "string", "format": "uuid", "pattern": JOB_ID_PATTERN},
    }
    submit_body = {
        "type": "object",
        "required": ["content", "style"],
        "properties": {
            "content": {
                "type": "string",
                "format": "binary",
                "description": "The photo (JPEG/PNG/WebP).",
            },
            "style": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "description": "One or more style images.",
            },
            "params": {
                "type": "string",
                "description": "Parameters as one JSON object (optional).",
            },
        },
    }
    return {
        "/v1/jobs": {
            "post": {
                "summary": "Submit a style-transfer job",
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": submit_body}},
                },
                "responses": {
                    "202": _job_response("Queued; Location points at the job."),
                    "200": _job_response("Same Idempotency-Key as an earlier request: that job."),
                    **_error_responses(400, 401, 413, 429, 503),
                },
            },
            "get": {
                "summary": "List my jobs, newest first",
                "parameters": _list_parameters(),
                "responses": {
                    "200": _job_list_response(),
                    **_error_responses(400, 401),
                },
            },
        },
        "/v1/jobs/{job_id}": {
            "parameters": [job_id],
            "get": {
                "summary": "Poll a job",
                "responses": {"200": _job_response("The job"), **_error_responses(400, 401, 404)},
            },
            "delete": {
                "summary": "Cancel a job",
                "responses": {
                    "202": _job_response("Cancelled or cancelling"),
                    **_error_responses(400, 401, 404, 409),
                },
            },
        },
        "/v1/jobs/{job_id}/result": {
            "parameters": [job_id],
            "get": {
                "summary": "Download the result",
                "responses": {
                    "200": _image_response("PNG image", "image/png"),
                    "302": {"description": "Presigned URL"},
                    **_error_responses(400, 401, 404),
                },
            },
        },
        "/v1/jobs/{job_id}/preview": {
            "parameters": [job_id],
            "get": {
                "summary": "Latest checkpoint image",
                "responses": {
                    "200": _image_response("JPEG image", "image/jpeg"),
                    "302": {"description": "Presigned URL"},
                    **_error_responses(400, 401, 404),
                },
            },
        },
    }


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    params = _params_schema()
    schemas = {"Job": _job_schema(), "Error": _error_schema(), "JobParams": params}
    schemas.update(params.pop("$defs", {}))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Neural style transfer API",
            "version": "1.0.0",
            "description": "Submit a photo and style images; poll the job; download the result.",
        },
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def init_app(app: Flask) -> None:
    spec = document()

    @app.get("/v1/openapi.json")
    def openapi_json() -> Response:
        current_owner()  # every /v1 route needs a key when auth is on
        return jsonify(spec)
