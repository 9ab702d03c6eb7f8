"""The Flask application factory: the HTTP side of the service and nothing else."""

from __future__ import annotations

from typing import Any

from flask import Flask

from api import (
    docs,
    errors,
    events,
    health,
    jobs,
    meta,
    metrics,
    openapi,
    presets,
    web,
    webhook_secret,
)
from api.container import Services
from api.deadlines import BodyDeadline, RequestDeadline, gevent_active
from api.errors import MAX_FORM_PARTS
from contract.errors import ConfigError
from shared.settings import Settings, load_settings


def create_app(
    settings: Settings | None = None, test_config: dict[str, Any] | None = None
) -> Flask:
    """Build the app; settings default to the environment, read here and only here."""
    settings = settings or load_settings()
    if settings.engine != "vgg19":  # a config shared with workers must not ship another engine
        raise ConfigError(f"NST_ENGINE={settings.engine} is for benchmark workers; the API refuses")
    app = Flask(__name__, static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        # Werkzeug checks this against its parse buffer, which holds file chunks of up to
        # 64 KiB too, so it must sit well above that or ordinary uploads get a random 413.
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        # A bound for the parser only (Werkzeug's default): counts of files and fields are
        # checked with their own error where the form is read (api/submission.py).
        MAX_FORM_PARTS=MAX_FORM_PARTS,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    app.extensions["nst"] = Services.from_settings(settings)
    modules = (
        errors,
        metrics,
        health,
        meta,
        presets,
        jobs,
        events,
        webhook_secret,
        openapi,
        docs,
        web,
    )
    for module in modules:
        module.init_app(app)
    if gevent_active():
        app.wsgi_app = BodyDeadline(app.wsgi_app, settings.api_body_timeout_seconds)  # type: ignore[method-assign]
        app.wsgi_app = RequestDeadline(app.wsgi_app, settings.api_request_timeout_seconds)  # type: ignore[method-assign]
    return app
