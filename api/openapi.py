"""The OpenAPI 3 document at ``/v1/openapi.json`` (public, as is ``/docs``, which renders it).

Nothing in it is a second description of what the code already says. Every JSON answer's schema
is its model's ``model_json_schema`` (``contract.resources``, ``contract.errors.ErrorBody``,
``contract.webhooks.WebhookSecret``), the submit form's fields are generated from
``contract.params.JobParams`` (through ``contract.param_specs``), and the error codes come from
``contract.errors``' registry. What is written here is the routes: paths, parameters, headers.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from api.idempotency import MAX_KEY_CHARS
from api.jobs import MAX_PAGE
from api.paging import MAX_CURSOR_CHARS
from contract.errors import ErrorBody
from contract.jobs import JobStatus
from contract.param_specs import ParamSpec, param_specs
from contract.params import Limits
from contract.resources import EXAMPLE_ID, JobListing, JobResource, Meta, PresetList
from contract.webhooks import (
    EVENTS_FIELD,
    MAX_URL_LENGTH,
    URL_FIELD,
    WebhookEvent,
    WebhookSecret,
)

STATUSES = [status.value for status in JobStatus]
WEBHOOK_EVENTS = [event.value for event in WebhookEvent]
JOB_ID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
REF = "#/components/schemas/{model}"
# Every JSON answer's model: its schema, and those of the models it holds, become components.
RESOURCES = (JobResource, JobListing, ErrorBody, Meta, PresetList, WebhookSecret)


class ComponentSchema(GenerateJsonSchema):
    """pydantic's generator, without a ``title`` on each property (``Id``, ``Status``...): the
    property's name says it, and the document reads as it did when written by hand."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def component_schemas() -> dict[str, Any]:
    """The answers' schemas from their models (``models_json_schema``), as named components.

    Serialization mode: the document describes what the API sends (``model_dump``), e.g.
    timestamps as ``date-time`` strings. Models shared by several answers appear once, and
    every ``$ref`` points into ``components/schemas``.
    """
    _, top = models_json_schema(
        [(model, "serialization") for model in RESOURCES],
        ref_template=REF,
        schema_generator=ComponentSchema,
    )
    return dict(top["$defs"])


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Any unique text; a retried request with the same key and body returns the "
    "first job (200), with another body 422 (IETF Idempotency-Key draft). 1 to 255 printable "
    "ASCII characters, else 400 invalid_idempotency_key.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS, "pattern": "^[ -~]+$"},
}
LOCATION = {
    "Location": {
        "description": "The job's URL.",
        "schema": {"type": "string", "examples": [f"/v1/jobs/{EXAMPLE_ID}"]},
    }
}
PREFER_WAIT = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": "wait=N (RFC 7240; N in ASCII digits, else ignored): answer as soon as the "
    "job changes (a queued job moving up counts), or after N seconds (at most 60, and at most "
    "half of NST_API_REQUEST_TIMEOUT_SECONDS). With If-None-Match, changes since that ETag. A "
    "key holding NST_MAX_STREAMS_PER_KEY streams and waits gets 429 too_many_streams.",
    "schema": {"type": "string", "example": "wait=30"},
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag from an earlier answer: 304 when the job has not changed since. "
    "Tags this API did not write match nothing.",
    "schema": {"type": "string"},
}
LAST_EVENT_ID = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "description": "The id of the last event received: only newer events are sent.",
    "schema": {"type": "string", "pattern": "^[0-9]*$"},
}
ETAG = {
    "ETag": {
        "description": 'The job\'s state tag: W/"version", or W/"version.place" while '
        "queued (it changes when the job moves up the queue).",
        "schema": {"type": "string"},
    }
}
PREFERENCE_APPLIED = {
    "Preference-Applied": {
        "description": "wait=N when Prefer: wait was honoured.",
        "schema": {"type": "string"},
    }
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


def _error_responses(*codes: int) -> dict[str, Any]:
    ref = {"content": {"application/json": {"schema": _ref(ErrorBody)}}}
    answers: dict[str, Any] = {}
    for code in codes:
        answers[str(code)] = {"description": "Error", **ref}
        if code == 429:
            answers[str(code)]["headers"] = RETRY_AFTER
    return answers


def _job_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = _model_response(description, JobResource)
    return {**answer, "headers": headers} if headers else answer


def _image_response(description: str, media_type: str) -> dict[str, Any]:
    schema = {"type": "string", "format": "binary"}
    return {"description": description, "content": {media_type: {"schema": schema}}}


def _model_response(description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _list_parameters() -> list[dict[str, Any]]:
    return [
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": STATUSES}},
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        },
        {
            "name": "cursor",
            "in": "query",
            "description": "next_cursor of the previous page: the page after its last job, so "
            "jobs created meanwhile never repeat one. Opaque; absent for the first page.",
            "schema": {"type": "string", "maxLength": MAX_CURSOR_CHARS},
        },
        {
            "name": "offset",
            "in": "query",
            "deprecated": True,
            "description": "Deprecated (repeats jobs created between pages): use cursor. "
            "Answered with a Deprecation header; not together with cursor.",
            "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        },
    ]


def _form_field(spec: ParamSpec) -> dict[str, Any]:
    """One parameter as a multipart form field: lists are sent comma-separated."""
    if spec.kind == "list":
        items = ", ".join(spec.item_choices or ()) or f"{spec.item_kind}s"
        return {"type": "string", "description": f"{spec.description} Comma-separated ({items})."}
    field: dict[str, Any] = {"type": spec.kind, "description": spec.description}
    for key, value in (
        ("default", spec.default),
        ("enum", spec.choices),
        ("maximum", spec.maximum),
    ):
        if value is not None:
            field[key] = list(value) if isinstance(value, tuple) else value
    if spec.minimum is not None:
        field["exclusiveMinimum" if spec.exclusive_minimum else "minimum"] = spec.minimum
    return field


def _webhook_form_fields() -> dict[str, Any]:
    """The optional webhook fields of the submit form (README "Webhooks")."""
    events = ", ".join(WEBHOOK_EVENTS)
    return {
        URL_FIELD: {
            "type": "string",
            "format": "uri",
            "maxLength": MAX_URL_LENGTH,
            "description": "http(s) URL to POST the job's events to, signed as Standard Webhooks "
            "says; it must resolve to public addresses.",
        },
        EVENTS_FIELD: {
            "type": "string",
            "default": WebhookEvent.COMPLETED.value,
            "description": f"Events to send, comma-separated ({events}).",
        },
    }


def _webhook_secret_path() -> dict[str, Any]:
    return {
        "get": {
            "summary": "The signing secret of this API key's webhooks",
            "responses": {
                "200": _model_response("This key's secret", WebhookSecret),
                **_error_responses(401, 404),
            },
        }
    }


def _submit_form(limits: Limits) -> dict[str, Any]:
    """The submit form: the files, every JobParams field, or all parameters as one JSON text."""
    properties: dict[str, Any] = {
        "content": {"type": "string", "format": "binary", "description": "The photo."},
        "style": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "minItems": 1,
            "maxItems": limits.max_style_images,
            "description": "One or more style images (JPEG, PNG or WebP).",
        },
        "params": {
            "type": "string",
            "description": "Parameters as one JSON object, instead of the separate fields.",
        },
        "style_preset": {
            "type": "string",
            "description": "Built-in styles by id (GET /v1/presets), comma-separated, instead of "
            "or besides uploaded ones; they follow the uploads in style_blend's order.",
        },
        **_webhook_form_fields(),
    }
    properties.update({spec.name: _form_field(spec) for spec in param_specs(limits)})
    return {"type": "object", "required": ["content"], "properties": properties}


def _paths(limits: Limits) -> dict[str, Any]:
    job_id = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "description": "A job id as returned on submission: a lower-case UUID.",
        "schema": {"type": "string", "format": "uuid", "pattern": JOB_ID_PATTERN},
    }
    submit_body = _submit_form(limits)
    return {
        "/v1/jobs": {
            "post": {
                "summary": "Submit a style-transfer job",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": submit_body}},
                },
                "responses": {
                    "202": _job_response("Queued; Location points at the job.", LOCATION),
                    "200": _job_response(
                        "Same Idempotency-Key and request as before: that job.", LOCATION
                    ),
                    **_error_responses(400, 401, 413, 422, 429, 503),
                },
            },
            "get": {
                "summary": "List my jobs, newest first",
                "parameters": _list_parameters(),
                "responses": {
                    "200": _model_response("A page of jobs", JobListing),
                    **_error_responses(400, 401),
                },
            },
        },
        "/v1/jobs/{job_id}": {
            "parameters": [job_id],
            "get": {
                "summary": "Poll a job (or wait for it to change)",
                "parameters": [PREFER_WAIT, IF_NONE_MATCH],
                "responses": {
                    "200": _job_response("The job", {**ETAG, **PREFERENCE_APPLIED}),
                    "304": {"description": "Not changed since the ETag given", "headers": ETAG},
                    **_error_responses(400, 401, 404, 429),
                },
            },
            "delete": {
                "summary": "Delete a finished job's images now (never cancels)",
                "description": "Inputs, previews, state and result are deleted now rather than "
                "after NST_RESULT_TTL; the record stays and says when. A queued or running job "
                "answers 409 job_active: cancel it first.",
                "responses": {
                    "200": _job_response("Its images are deleted (a retry: no change)"),
                    **_error_responses(400, 401, 404, 409),
                },
            },
        },
        "/v1/jobs/{job_id}/cancel": {
            "parameters": [job_id],
            "post": {
                "summary": "Cancel a queued or running job (never deletes)",
                "description": "A queued job ends cancelled now (200); a running one stops at "
                "its next checkpoint (202, cancel_requested). A cancelled job answers 200 "
                "unchanged, so a retry is safe. A job that already succeeded or failed answers "
                "409 job_finished and keeps its result.",
                "responses": {
                    "200": _job_response("Cancelled (now, or earlier)"),
                    "202": _job_response("Running: it stops at its next checkpoint"),
                    **_error_responses(400, 401, 404, 409),
                },
            },
        },
        "/v1/meta": {
            "get": {
                "summary": "What a client needs to build its form (public)",
                "description": "Whether keys are needed, the limits, every job parameter with "
                "its range and default, the statuses, image types, error headlines, and the "
                "workers' measured speed (speed; null before a job ran) and the jobs waiting "
                "(queue), for a time estimate.",
                "security": [],
                "responses": {"200": _model_response("The service's description", Meta)},
            }
        },
        "/v1/presets": {
            "get": {
                "summary": "Built-in styles, picked with style_preset (public)",
                "security": [],
                "responses": {
                    "200": _model_response("The presets: id, title, artist, thumbnail", PresetList)
                },
            }
        },
        "/v1/presets/{preset_id}/thumbnail": {
            "parameters": [
                {
                    "name": "preset_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
                }
            ],
            "get": {
                "summary": "A preset's thumbnail (public)",
                "security": [],
                "responses": {
                    "200": _image_response("JPEG image", "image/jpeg"),
                    **_error_responses(400, 404),
                },
            },
        },
        "/v1/jobs/{job_id}/events": {
            "parameters": [job_id],
            "get": {
                "summary": "Follow a job as server-sent events until it ends",
                "description": "Events: status, progress, preview, then succeeded, failed or "
                "cancelled (data: the job), and the stream closes. Each event's id is the "
                "job's state tag (version, and place while queued: a status event comes when a "
                "queued job moves up); send Last-Event-ID on reconnect to get only what is new "
                "(an id this job never had gets the whole state). Comment lines keep an idle "
                "stream alive. Each open stream holds one of its key's NST_MAX_STREAMS_PER_KEY "
                "slots: past it, 429 too_many_streams with Retry-After.",
                "parameters": [LAST_EVENT_ID],
                "responses": {
                    "200": {
                        "description": "An event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_error_responses(400, 401, 404, 429),
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
        "/v1/jobs/{job_id}/content": {
            "parameters": [job_id],
            "get": {
                "summary": "The photo as stored (upright, sRGB): the before of before/after",
                "responses": {
                    "200": _image_response("JPEG image", "image/jpeg"),
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
        "/v1/webhook-secret": _webhook_secret_path(),
    }


def document(limits: Limits | None = None) -> dict[str, Any]:
    """The whole OpenAPI document; ``limits`` are the deployment's (the schema's own if None)."""
    limits = limits or Limits()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Neural style transfer API",
            "version": "1.0.0",
            "description": "Submit a photo and style images; poll the job; download the result.",
        },
        "paths": _paths(limits),
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def init_app(app: Flask) -> None:
    spec = document(app.extensions["nst"].limits)

    @app.get("/v1/openapi.json")
    def openapi_json() -> Response:
        """Public, as ``/docs`` (which renders it) and ``/v1/meta``: it describes the API and
        holds nothing a key protects, and one document must not be public at one address and
        private at another (issue 21)."""
        return jsonify(spec)
