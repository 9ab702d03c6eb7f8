"""The live API against its own OpenAPI document (schemathesis): generated requests never get
a 5xx, and every answer (status, content type, JSON body) is one the document describes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.openapi import document
from tests.fixtures.live import LiveAPI
from tests.images import content_bytes, style_bytes

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
STREAMS = {"/v1/jobs/{job_id}/events"}  # never end while the job runs: tests/api/test_live_updates
OPERATIONS = [
    pytest.param(path, method.upper(), id=f"{method.upper()} {path}")
    for path, item in document()["paths"].items()
    for method in item
    if method != "parameters" and path not in STREAMS
]
GOOD_PARAMS = json.dumps({"size": 64, "iterations": 4})


@pytest.fixture
def job_ids(live_api: LiveAPI) -> list[str]:
    """Two real queued jobs, so job routes and the list answer with real records too."""
    files = [
        ("content", ("c.jpg", content_bytes(), "image/jpeg")),
        ("style", ("s.jpg", style_bytes(), "image/jpeg")),
    ]
    ids = []
    for _ in range(2):
        response = requests.post(
            f"{live_api.url}/v1/jobs",
            data={"params": GOOD_PARAMS},
            files=files,
            headers=live_api.headers,
            timeout=30,
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def real_request(path: str, method: str, job_id: str) -> tuple[dict[str, Any], int]:
    """A request on the operation's main path (which generation rarely finds), and its status."""
    if path.endswith("/content"):
        return {"path_parameters": {"job_id": job_id}}, 302  # S3 storage presigns
    if path.endswith(("/result", "/preview")):
        return {"path_parameters": {"job_id": job_id}}, 404  # queued: nothing to show yet
    if "{preset_id}" in path:
        return {"path_parameters": {"preset_id": "none_here"}}, 404  # no presets configured
    if path == "/v1/webhook-secret":
        return {}, 404  # webhooks_disabled: live_api sets no NST_WEBHOOK_SECRET
    if "{job_id}" in path:  # queued: DELETE is refused (job_active), a cancel ends it now
        return {"path_parameters": {"job_id": job_id}}, 409 if method == "DELETE" else 200
    if method == "GET":
        return {"query": {"status": "queued", "limit": 1}}, 200
    body = {"content": content_bytes(), "style": [style_bytes()], "params": GOOD_PARAMS}
    return {"body": body, "media_type": "multipart/form-data"}, 202


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_operation_answers_as_documented(
    live_api: LiveAPI, job_ids: list[str], path: str, method: str
) -> None:
    """A real request, then schema-valid and schema-breaking generated ones (429 stays on)."""
    schema = schemathesis.openapi.from_url(
        f"{live_api.url}/v1/openapi.json", headers=live_api.headers, timeout=10
    )
    operation = schema[path][method]
    request, expected_status = real_request(path, method, job_ids[0])
    real = operation.Case(**request).call_and_validate(
        headers=live_api.headers, checks=CHECKS, timeout=30
    )
    assert real.status_code == expected_status, real.text
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=live_api.headers, checks=CHECKS, timeout=30)

    answers_as_documented()


def test_the_document_is_public_at_both_addresses_and_the_same(live_api: LiveAPI) -> None:
    """One rule for one document (issue 21): /docs/swagger.json was public while the identical
    /v1/openapi.json needed a key. Both are public, as /v1/meta is: nothing in it is secret."""
    api_copy = requests.get(f"{live_api.url}/v1/openapi.json", timeout=10)
    docs_copy = requests.get(f"{live_api.url}/docs/swagger.json", timeout=10)
    assert api_copy.status_code == docs_copy.status_code == 200
    assert api_copy.json() == docs_copy.json()
