"""The page as people use it: focus, field errors, the key, the queue, presets, the gallery.

Real Chromium (Playwright) against the live API; at desktop and phone sizes where layout
matters.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.fixtures.live import API_KEY, Env, LiveAPI
from tests.images import SHARED_IMAGES, content_bytes, style_bytes
from tests.web.conftest import screenshot
from tests.web.test_page import fill_job, open_page, png


@pytest.fixture
def service_env(service_env: Env) -> Env:
    """The web tests' settings with two built-in paintings offered."""
    return Env(
        {
            **service_env.values,
            "NST_PRESETS_DIR": str(SHARED_IMAGES),
            "NST_PRESETS": "starry_night,the_scream",
        }
    )


# In view: the whole card on screen (or, if it is taller than the screen, its top at the top).
# Not "its top in the upper half": near the end of the page there may be too little below the
# card to scroll it that far, and whether there is depends on when the job list has refreshed.
IN_VIEW = """selector => { const box = document.querySelector(selector).getBoundingClientRect();
    return box.top >= -1 && (box.bottom <= window.innerHeight + 1 || box.top < 2); }"""


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_after_start_the_job_card_has_focus_and_is_in_view(
    page: Page, phone: Page, live_api: LiveAPI, size: str
) -> None:
    tab = page if size == "desktop" else phone
    open_page(tab, live_api)
    fill_job(tab, 4)
    tab.get_by_role("button", name="Start").click()
    expect(tab.locator("#job")).to_be_focused()
    expect(tab.locator("#job-iteration")).to_have_text("Not started yet. Number 1 in the queue.")
    tab.wait_for_function(IN_VIEW, arg="#job")  # scrolled to it (smoothly): below the fold before
    screenshot(tab, f"queued-{size}")


def test_a_field_error_marks_its_field_and_clears_on_the_next_submit(
    page: Page, live_api: LiveAPI
) -> None:
    open_page(page, live_api)
    fill_job(page, 4)
    size = page.get_by_label("Size (long side, px)")
    size.fill("4000")  # over NST_MAX_SIZE: the server refuses it, naming the field
    page.get_by_role("button", name="Start").click()
    expect(size).to_have_attribute("aria-invalid", "true")
    expect(size).to_be_focused()
    note = page.locator("#size-error")
    expect(note).to_have_text("A setting is not accepted: size: must be at most 128.")
    assert "size-error" in (size.get_attribute("aria-describedby") or "")
    size.fill("48")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#job")).to_be_focused()
    expect(note).to_be_hidden()
    assert size.get_attribute("aria-invalid") is None


def test_the_focus_ring_stands_out_at_least_3_to_1(page: Page, live_api: LiveAPI) -> None:
    open_page(page, live_api)
    page.get_by_role("button", name="Start").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # keyboard focus: :focus-visible applies
    ratio = page.evaluate("""() => {
        const rgb = (text) => text.match(/\\d+/g).slice(0, 3).map(Number);
        const lum = ([r, g, b]) => [r, g, b].map((c) => { c /= 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
            .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
        const ring = lum(rgb(getComputedStyle(document.activeElement).outlineColor));
        const page = lum(rgb(getComputedStyle(document.querySelector('.card')).backgroundColor));
        return (Math.max(ring, page) + 0.05) / (Math.min(ring, page) + 0.05); }""")
    assert ratio >= 3.0, ratio


def test_a_wrong_key_is_not_saved_and_the_card_hides_without_auth(
    page: Page, live_api: LiveAPI, service_env: Env
) -> None:
    page.goto(live_api.url + "/")
    page.get_by_label("Key", exact=True).fill("not-the-key")
    page.get_by_role("button", name="Save key").click()
    expect(page.locator("#list-error")).to_have_text(re.compile("The API key was not accepted"))
    expect(page.locator("#key-note")).not_to_have_text("Key saved in this browser.")
    assert page.evaluate("() => localStorage.getItem('nst.apiKey')") is None
    page.get_by_label("Key", exact=True).fill(API_KEY)
    page.get_by_role("button", name="Save key").click()
    expect(page.locator("#key-note")).to_have_text("Key saved in this browser.")


def test_the_upload_limit_is_checked_before_sending_and_accept_names_the_types(
    page: Page, live_api: LiveAPI
) -> None:
    open_page(page, live_api)
    assert page.get_attribute("#content", "accept") == "image/jpeg,image/png,image/webp"
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    fill_job(page, 4, content=content_bytes(64) + b"\0" * (3 * 1024 * 1024))  # over 2 MB
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#style-error")).to_have_text(
        re.compile(r"The files are too large to upload together: .* the limit is 2 MB\.")
    )
    assert posts == [], "nothing was sent"


def test_a_built_in_painting_is_chosen_without_uploading(page: Page, worker_api: LiveAPI) -> None:
    open_page(page, worker_api)
    expect(page.get_by_label("The scream")).to_be_visible()
    page.set_input_files("#content", png("photo.jpg", content_bytes(64)))
    page.get_by_label("The scream").check()
    page.get_by_label("Size (long side, px)").fill("48")
    page.get_by_label("Iterations").fill("4")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#job-status")).to_have_text("Done.", timeout=120_000)
    job = requests.get(
        f"{worker_api.url}/v1/jobs?limit=1", headers=worker_api.headers, timeout=10
    ).json()["jobs"][0]
    assert job["style_count"] == 1 and job["status"] == "succeeded"
    expect(page.locator("#jobs li img.thumb").first).to_be_visible()
    screenshot(page, "preset-done")


def test_my_pictures_are_a_gallery_a_page_at_a_time(page: Page, live_api: LiveAPI) -> None:
    ids = []
    for _ in range(9):
        files = [
            ("content", ("c.jpg", content_bytes(), "image/jpeg")),
            ("style", ("s.jpg", style_bytes(), "image/jpeg")),
        ]
        job = requests.post(
            f"{live_api.url}/v1/jobs",
            files=files,
            data={"size": "32"},
            headers=live_api.headers,
            timeout=30,
        ).json()
        cancel = f"{live_api.url}/v1/jobs/{job['id']}/cancel"
        requests.post(cancel, headers=live_api.headers, timeout=10)
        ids.append(job["id"])
    open_page(page, live_api)
    items = page.locator("#jobs li")
    expect(items).to_have_count(8)
    assert items.first.get_attribute("data-job-id") == ids[-1]
    expect(page.get_by_role("button", name="Newer")).to_be_disabled()
    page.get_by_role("button", name="Older").click()
    expect(items).to_have_count(1)
    assert items.first.get_attribute("data-job-id") == ids[0]
    expect(page.locator("#page-note")).to_have_text("9\u20139")  # nine to nine
