"""``GET /v1/presets``: the built-in styles, with thumbnails; public like ``/v1/meta``.

A preset is picked at submit with ``style_preset=<id>`` instead of uploading a painting.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, url_for

from api.container import services
from contract.errors import NotFound
from contract.resources import Preset, PresetList
from shared.presets import shown_id

bp = Blueprint("presets", __name__, url_prefix="/v1/presets")


@bp.get("")
def list_presets() -> Response:
    catalog = services().presets
    presets = [
        Preset(
            id=p.id,
            title=p.title,
            artist=p.artist,
            thumbnail_url=url_for("presets.thumbnail", preset_id=p.id),
        )
        for p in catalog.presets.values()
    ]
    response = jsonify(PresetList(presets=presets).model_dump(mode="json"))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/<preset_id>/thumbnail")
def thumbnail(preset_id: str) -> Response:
    svc = services()
    preset = svc.presets.presets.get(preset_id)
    if preset is None:
        raise NotFound(f"no preset {shown_id(preset_id)}")
    image = svc.presets.thumbnail(preset, svc.settings.max_pixels)
    response = Response(image, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
