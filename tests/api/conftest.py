"""In-process API fixtures: the app from the factory and Flask's test client, real Redis and S3.

View logic is tested here without a server process (a loop of seconds); the live API fixture
(``tests/fixtures/live.py``) stays for what needs real sockets.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from tests.fixtures.live import API_KEY, Env

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def app(service_env: Env) -> Flask:
    """A fresh app for this test's settings (its own key prefix, queue and storage prefix)."""
    return create_app(service_env.settings(), test_config={"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def post_job(
    client: FlaskClient,
    files: list[tuple[str, tuple[bytes, str]]],
    key: str | None = None,
    **form: Any,
) -> Any:
    """POST /v1/jobs in-process with the API key (and an Idempotency-Key if given)."""
    data: dict[str, Any] = {name: str(value) for name, value in form.items()}
    for field, (content, filename) in files:
        data.setdefault(field, []).append((_stream(content), filename))
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    return client.post("/v1/jobs", data=data, headers=headers, content_type="multipart/form-data")


def _stream(content: bytes) -> Any:
    import io

    return io.BytesIO(content)
