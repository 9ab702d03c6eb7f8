"""The web page served at ``/`` (plain HTML, CSS and a small script; no build step)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response

STATIC = Path(__file__).parent / "static"
bp = Blueprint("web", __name__, static_folder=str(STATIC), static_url_path="/static")


@bp.get("/")
def index() -> Response:
    return bp.send_static_file("index.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
