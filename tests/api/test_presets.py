"""Built-in styles: listed with thumbnails, picked by id, stored once for every job using them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from contract.errors import ConfigError
from shared.presets import PresetCatalog
from tests.api.conftest import AUTH, post_job
from tests.fixtures.live import Env, LiveAPI
from tests.helpers import poller, wait_status
from tests.images import SHARED_IMAGES, content_bytes, style_bytes

PAINTINGS = "starry_night,the_scream"


@pytest.fixture
def service_env(service_env: Env) -> Env:
    return Env(
        {**service_env.values, "NST_PRESETS_DIR": str(SHARED_IMAGES), "NST_PRESETS": PAINTINGS}
    )


def test_presets_are_listed_with_thumbnails_without_a_key(client: FlaskClient) -> None:
    listed = client.get("/v1/presets").json["presets"]
    assert [p["id"] for p in listed] == ["starry_night", "the_scream"]
    assert (listed[0]["title"], listed[0]["artist"]) == ("The Starry Night", "Vincent van Gogh")
    thumbnail = client.get(listed[0]["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.data.startswith(b"\xff\xd8")


def test_a_job_picks_a_preset_instead_of_uploading_and_it_is_stored_once(
    client: FlaskClient, service_env: Env
) -> None:
    storage = service_env.storage()
    first = post_job(client, [("content", (content_bytes(), "c.jpg"))], style_preset="the_scream")
    assert first.status_code == 202, first.json
    assert first.json["style_count"] == 1
    stored = storage.get("presets/the_scream.jpg")
    assert not storage.exists(f"jobs/{first.json['id']}/style-0.jpg")  # referenced, not copied
    mixed = post_job(
        client,
        [("content", (content_bytes(), "c.jpg")), ("style", (style_bytes(), "s.jpg"))],
        style_preset="the_scream,starry_night",
        style_blend="0.5,0.3,0.2",
    )
    assert mixed.status_code == 202, mixed.json
    assert mixed.json["style_count"] == 3
    assert storage.get("presets/the_scream.jpg") == stored


def test_an_unknown_preset_is_refused_naming_those_offered(client: FlaskClient) -> None:
    refused = post_job(client, [("content", (content_bytes(), "c.jpg"))], style_preset="mona_lisa")
    assert refused.status_code == 400
    assert refused.json["error"]["field"] == "style_preset"
    assert "starry_night, the_scream" in refused.json["error"]["message"]
    assert client.get("/v1/presets/mona_lisa/thumbnail", headers=AUTH).status_code == 404


def test_a_preset_job_runs_to_the_end_on_a_worker(worker_api: LiveAPI) -> None:
    files = [("content", ("c.jpg", content_bytes(64), "image/jpeg"))]
    data = {"size": "48", "iterations": "4", "optimizer": "adam", "style_preset": "starry_night"}
    response = requests.post(
        f"{worker_api.url}/v1/jobs", data=data, files=files, headers=worker_api.headers, timeout=30
    )
    assert response.status_code == 202, response.text
    final = wait_status(poller(worker_api, response.json()["id"]), {"succeeded", "failed"})
    assert final["status"] == "succeeded", final


def test_an_operators_presets_json_names_the_paintings(tmp_path: Path) -> None:
    """Titles were made of file names ("Woman with hat matisse"); the operator can name them."""
    for name in ("starry_night", "my_sunset-2"):
        (tmp_path / f"{name}.jpg").write_bytes(style_bytes())
    (tmp_path / "presets.json").write_text(
        json.dumps({"my_sunset-2": {"title": "Sunset over Kiel", "artist": "A. Painter"}})
    )
    catalog = PresetCatalog(str(tmp_path))
    assert catalog.presets["my_sunset-2"].title == "Sunset over Kiel"
    assert catalog.presets["my_sunset-2"].artist == "A. Painter"
    assert catalog.presets["starry_night"].artist == "Vincent van Gogh"  # a known painting
    (tmp_path / "presets.json").write_text('{"my_sunset-2": "no title"}')
    with pytest.raises(ConfigError, match=r"presets\.json must map ids to"):
        PresetCatalog(str(tmp_path))
