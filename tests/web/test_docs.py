"""``/docs``: the API reference renders in Chromium from the installed package, no CDN."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from playwright.sync_api import Browser, Page, expect

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


def test_the_reference_fits_a_phone_screen(browser: Browser, live_api: LiveAPI) -> None:
    """Without a viewport meta a phone laid /docs out 980 px wide and shrank it to a third."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    phone.goto(live_api.url + "/docs/")
    expect(phone.get_by_text("Submit a style-transfer job")).to_be_visible()
    assert phone.evaluate("() => document.documentElement.clientWidth") == 390
    context.close()


def test_the_favicon_is_served(live_api: LiveAPI) -> None:
    response = requests.get(live_api.url + "/favicon.ico", timeout=10)
    assert response.status_code == 200, response.status_code
    assert response.content.startswith(b"\0\0\1\0")  # an ICO file's header
