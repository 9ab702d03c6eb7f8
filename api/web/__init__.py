"""The web page served at ``/`` (plain HTML, CSS and a small script; no build step)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response

STATIC = Path(__file__).parent / "static"
bp = Blueprint("web", __name__, static_folder=str(STATIC), static_url_path="/static")


@bp.get("/")
def index() -> Response:
    return bp.send_static_file("index.html")


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it at the root whatever the page links: without it, a 404 per visit."""
    response = bp.send_static_file("favicon.ico")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
