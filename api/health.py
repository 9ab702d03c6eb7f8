"""Liveness and readiness probes; unauthenticated, so they name what fails but never where."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, jsonify

from api.container import services
from contract.errors import NotReady, StorageUnavailable

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving; says nothing of its dependencies."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when Redis and object storage both answer; names the one that does not."""
    svc = services()
    checks: dict[str, str] = {}
    try:
        svc.store.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        log.warning("readiness: job store unreachable: %s", exc)
        checks["redis"] = "unreachable"
    try:
        svc.storage.check()
        checks["storage"] = "ok"
    except StorageUnavailable as exc:
        log.warning("readiness: object storage unreachable: %s", exc.message)
        checks["storage"] = "unreachable"
    failing = [name for name, value in checks.items() if value != "ok"]
    body: dict[str, object] = {"status": "unavailable" if failing else "ready", "checks": checks}
    if failing:
        body["error"] = NotReady(f"unreachable: {', '.join(failing)}").body()
    return jsonify(body), 503 if failing else 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
