"""Links the API writes point where NST_PUBLIC_BASE_URL says, whatever ``Host`` a client sends.

Found from outside (issue 21, weak spots): the ``Host`` header was echoed into ``links.self``
and, with file storage, into ``result_url``: a request with ``Host: evil.example`` got links to
evil.example. With the setting, the request's Host no longer decides where links point.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from api.container import Services
from contract.jobs import Job, JobStatus
from tests.api.conftest import AUTH, post_job
from tests.api.streams import FILES
from tests.fixtures.live import Env

BASE = "https://nst.example.com/styles"
EVIL = {**AUTH, "Host": "evil.example", "X-Forwarded-Host": "evil.example"}


@pytest.fixture
def app(service_env: Env, tmp_path: Path) -> Flask:
    env = Env(
        {**service_env.values, "NST_PUBLIC_BASE_URL": BASE, "NST_STORAGE_URL": f"file://{tmp_path}"}
    )
    return create_app(env.settings(), test_config={"TESTING": True})


def succeeded(job: Job) -> Job:
    job.status, job.finished_at = JobStatus.SUCCEEDED, time.time()
    return job


def test_links_use_the_public_base_url_not_the_host_header(app: Flask, client: FlaskClient) -> None:
    submitted = post_job(client, FILES, size=32, iterations=2)
    job_id = submitted.get_json()["id"]
    svc: Services = app.extensions["nst"]
    svc.store.update(job_id, succeeded)  # file storage cannot presign: result_url is the API's
    shown = client.get(f"/v1/jobs/{job_id}", headers=EVIL).get_json()
    assert shown["links"]["self"] == f"{BASE}/v1/jobs/{job_id}"
    assert shown["result_url"] == f"{BASE}/v1/jobs/{job_id}/result"
    listed = client.get("/v1/jobs", headers=EVIL).get_json()["jobs"][0]
    assert "evil.example" not in str(listed)
