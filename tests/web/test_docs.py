"""``/docs``: the API reference renders in Chromium from the installed package, no CDN."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.fixtures.live import LiveAPI
from tests.web.conftest import screenshot


def test_the_reference_renders_every_operation_from_this_server_only(
    page: Page, live_api: LiveAPI
) -> None:
    origins: set[str] = set()
    page.on("request", lambda request: origins.add(urlsplit(request.url).netloc))
    page.goto(live_api.url + "/docs/")
    expect(page.get_by_text("Submit a style-transfer job")).to_be_visible()
    expect(page.get_by_text("Follow a job as server-sent events until it ends")).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    assert origins == {urlsplit(live_api.url).netloc}, origins  # nothing from a CDN
    screenshot(page, "docs")
