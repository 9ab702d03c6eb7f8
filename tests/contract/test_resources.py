"""One model per answer: what the API sends, what its OpenAPI document says and what the client
reads are ``contract.resources`` (and ``ErrorBody``, ``WebhookSecret``), never three copies.

Each answer here is a real one from the in-process app (real Redis, real S3 stand-in), checked
three ways: it validates against the document's schema (jsonschema), it parses into its model,
and the model gives back exactly the JSON that was sent (nothing lost, nothing renamed).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.openapi import REF, RESOURCES, ComponentSchema, component_schemas, document
from contract.errors import ErrorBody, InvalidParams, error_from_body
from contract.jobs import Job, JobFailure, JobStatus, JobTiming, Losses, LossWeights, Progress
from contract.resources import (
    DeliveryAttempt,
    JobListing,
    JobProgress,
    JobResource,
    Meta,
    PresetList,
)
from contract.webhooks import JobWebhook, WebhookAttempt, WebhookEvent, WebhookSecret
from tests.api.conftest import AUTH, post_job
from tests.fixtures.live import Env
from tests.images import SHARED_IMAGES, content_bytes, style_bytes

FILES = [("content", (content_bytes(), "c.jpg")), ("style", (style_bytes(), "s.jpg"))]


@pytest.fixture
def service_env(service_env: Env) -> Env:
    """Presets and webhooks on, so that their answers are real ones too."""
    return Env(
        {
            **service_env.values,
            "NST_PRESETS_DIR": str(SHARED_IMAGES),
            "NST_PRESETS": "starry_night",
            "NST_WEBHOOK_SECRET": "w" * 40,
        }
    )


def conforms(body: Any, model: type[BaseModel]) -> None:
    """``body`` is valid for the document's schema of ``model``, and the model reads it whole."""
    schema = {"$ref": REF.format(model=model.__name__), "components": document()["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)
    assert model.model_validate(body).model_dump(mode="json") == body


# -- the document is the models ----------------------------------------------------------------
def test_each_answers_schema_in_the_document_is_its_models_json_schema() -> None:
    schemas = document()["components"]["schemas"]
    for model in RESOURCES:
        own = model.model_json_schema(
            mode="serialization", ref_template=REF, schema_generator=ComponentSchema
        )
        defs = own.pop("$defs", {})
        assert schemas[model.__name__] == own, model.__name__
        assert {name: schemas[name] for name in defs} == defs, model.__name__


def test_every_ref_in_the_document_points_at_a_component() -> None:
    text = json.dumps(document())
    refs = set(re.findall(r'"\$ref": "([^"]+)"', text))
    assert "#/components/schemas/JobParams" in refs
    names = {ref.removeprefix("#/components/schemas/") for ref in refs}
    assert names <= set(component_schemas()), names - set(component_schemas())
    assert "$defs" not in text  # pydantic's own definitions were all moved and refs rewritten


def test_every_json_answer_in_the_document_is_a_model_not_a_hand_written_schema() -> None:
    names = {model.__name__ for model in RESOURCES}
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, answer in operation["responses"].items():
                media = answer.get("content", {}).get("application/json")
                if media is None:
                    continue
                ref = media["schema"].get("$ref", "")
                assert ref.removeprefix("#/components/schemas/") in names, (path, method, status)


def test_the_job_schema_requires_every_field_the_api_sends() -> None:
    schema = document()["components"]["schemas"]["JobResource"]
    assert set(schema["required"]) == set(JobResource.model_fields)
    assert schema["properties"]["created_at"]["format"] == "date-time"
    assert "title" not in schema["properties"]["id"]  # no generated "Id" titles


@pytest.mark.parametrize(
    ("record", "resource"), [(Progress, JobProgress), (WebhookAttempt, DeliveryAttempt)]
)
def test_a_field_added_to_a_record_part_is_shown_by_its_resource(
    record: type[BaseModel], resource: type[BaseModel]
) -> None:
    """The resource's ``of`` passes the record's fields on; one it lacked would vanish silently
    (answers ignore unknown fields), so each record field must be a resource field too."""
    assert set(record.model_fields) <= set(resource.model_fields)


def test_models_json_schema_finds_no_model_twice_under_two_names() -> None:
    """A model used in validation and serialization modes alike would get -Input/-Output twins."""
    _, top = models_json_schema([(m, "serialization") for m in RESOURCES], ref_template=REF)
    assert not [name for name in top["$defs"] if name.endswith(("-Input", "-Output"))]


# -- real answers ------------------------------------------------------------------------------
def full_record(job: Job) -> Job:
    """A job with every optional part set: progress, weights, a webhook with attempts, timing."""
    now = time.time()
    attempts = [
        WebhookAttempt(
            message_id="msg_1",
            event=WebhookEvent.PROGRESS,
            attempt=1,
            at=now,
            status_code=500,
            error="HTTP 500",
        ),
        WebhookAttempt(
            message_id="msg_1", event=WebhookEvent.PROGRESS, attempt=2, at=now, status_code=204
        ),
    ]
    return job.model_copy(
        update={
            "status": JobStatus.SUCCEEDED,
            "started_at": now - 5,
            "finished_at": now,
            "progress": Progress(
                iteration=8,
                total=10,
                elapsed_seconds=2.5,
                stopped_early=True,
                losses=Losses(content=1.5, style=2.25, tv=0.125, total=3.875),
            ),
            "has_preview": True,
            "attempts": 1,
            "resumed_from_iteration": 4,
            "loss_weights": LossWeights(
                style_strength=1.0,
                content_weight=1.0,
                style_weight=0.5,
                tv_weight=0.01,
                content_layer_weights=(1.0,),
                style_layer_weights=(0.2,) * 5,
            ),
            "timing": JobTiming(
                queued_seconds=0.5,
                compile_seconds=1.0,
                optimize_seconds=3.0,
                checkpoint_seconds=0.25,
                total_seconds=5.0,
                precision="float32",
            ),
            "webhook": JobWebhook(
                url="https://hooks.example/", events=tuple(WebhookEvent), attempts=attempts
            ),
        }
    )


def test_a_queued_job_answer_is_the_job_model(client: FlaskClient) -> None:
    response = post_job(client, FILES, size=64, iterations=4)
    assert response.status_code == 202, response.json
    conforms(response.json, JobResource)
    job = JobResource.model_validate(response.json)
    assert job.status is JobStatus.QUEUED and job.queue_position == 1 and job.params.size == 64
    assert response.json["created_at"].endswith("Z") and len(response.json["created_at"]) == 24


def test_a_job_with_every_part_set_is_the_job_model(app: Flask, client: FlaskClient) -> None:
    """Progress, webhook attempts, weights, timing, links and timestamps, as stored by a worker."""
    job_id = post_job(client, FILES, size=64, iterations=4).json["id"]
    store = app.extensions["nst"].store
    store.update(job_id, full_record)
    body = client.get(f"/v1/jobs/{job_id}", headers=AUTH).json
    conforms(body, JobResource)
    job = JobResource.model_validate(body)
    assert job.progress is not None and (job.progress.percent, job.progress.iterations_saved) == (
        80.0,
        2,
    )
    assert job.webhook is not None and [a.delivered for a in job.webhook.attempts] == [False, True]
    assert job.result_url and job.preview_url and job.images_expire_at is not None
    assert job.links.self.endswith(f"/v1/jobs/{job_id}")
    assert body["webhook"]["attempts"][0]["at"].endswith("Z")


def test_a_failed_job_carries_its_error_as_the_model_says(app: Flask, client: FlaskClient) -> None:
    job_id = post_job(client, FILES, size=64, iterations=4).json["id"]
    failure = JobFailure(code="invalid_image", message="style 1 is empty")
    app.extensions["nst"].store.update(
        job_id,
        lambda job: job.model_copy(
            update={"status": JobStatus.FAILED, "finished_at": time.time(), "error": failure}
        ),
    )
    body = client.get(f"/v1/jobs/{job_id}", headers=AUTH).json
    conforms(body, JobResource)
    assert JobResource.model_validate(body).error == failure


def test_the_job_list_is_the_listing_model(client: FlaskClient) -> None:
    for _ in range(2):
        post_job(client, FILES, size=64, iterations=4)
    body = client.get("/v1/jobs?limit=1", headers=AUTH).json
    conforms(body, JobListing)
    listing = JobListing.model_validate(body)
    assert len(listing.jobs) == 1 and listing.next_cursor and listing.next


def test_meta_presets_and_the_webhook_secret_are_their_models(client: FlaskClient) -> None:
    conforms(client.get("/v1/meta").json, Meta)
    conforms(client.get("/v1/presets").json, PresetList)
    conforms(client.get("/v1/webhook-secret", headers=AUTH).json, WebhookSecret)
    meta = Meta.model_validate(client.get("/v1/meta").json)
    size = next(spec for spec in meta.params if spec.name == "size")
    assert size.maximum == meta.limits.max_size and size.minimum == 16


def test_meta_leaves_out_what_a_parameter_does_not_have(client: FlaskClient) -> None:
    """``ParamSpec`` says no bound, no choices and not exclusive by leaving the key out."""
    params = {spec["name"]: spec for spec in client.get("/v1/meta").json["params"]}
    assert params["learning_rate"]["maximum"] == 1000
    assert type(params["size"]["minimum"]) is int  # 16, as the schema says, not 16.0
    assert params["learning_rate"]["exclusive_minimum"] is True
    assert "choices" not in params["size"] and "exclusive_minimum" not in params["size"]
    assert "minimum" not in params["init"] and "maximum" not in params["init"]
    assert "default" not in params["checkpoint_every"]  # None: "from configuration"
    assert params["preserve_color"]["choices"] == ["none", "luminance", "histogram"]
    assert len(params["preserve_color"]["choice_labels"]) == 3


def test_error_answers_are_the_error_model_and_read_back_as_the_same_error(
    client: FlaskClient,
) -> None:
    response = post_job(client, FILES, size=10_000)
    assert response.status_code == 400
    conforms(response.json, ErrorBody)
    error = error_from_body(ErrorBody.model_validate(response.json).error, response.status_code)
    assert type(error) is InvalidParams and error.field == "size"
    unauthorized = client.get("/v1/jobs", headers={"Authorization": "Bearer nope"})
    conforms(unauthorized.json, ErrorBody)
    assert "field" not in unauthorized.json["error"]  # absent, not null, when there is none
