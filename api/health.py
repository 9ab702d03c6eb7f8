"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify

from api.services import services
from shared.errors import StorageUnavailable

bp = Blueprint("health", __name__)


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
        svc.store.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unreachable: {exc}"
    try:
        svc.storage.check()
        checks["storage"] = "ok"
    except StorageUnavailable as exc:
        checks["storage"] = f"unreachable: {exc.message}"
    ready = all(v == "ok" for v in checks.values())
    failing = [name for name, value in checks.items() if value != "ok"]
    body: dict[str, object] = {"status": "ready" if ready else "unavailable", "checks": checks}
    if not ready:
        body["error"] = {"code": "not_ready", "message": f"unreachable: {', '.join(failing)}"}
    return jsonify(body), 200 if ready else 503


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
