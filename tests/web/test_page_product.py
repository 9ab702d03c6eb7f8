"""The page as a product (issue 22): what is chosen is shown, the result is the page's picture,
the time is known before Start, and state survives a cancel and a reload.

Real Chromium (Playwright) against the live API, at desktop (1280x800) and phone (390x844)
sizes; a real worker where a finished picture is needed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest
import requests
from playwright.sync_api import JSHandle, Page, expect

from tests.fixtures.live import Env, LiveAPI, WorkerProcess
from tests.helpers import record_finished_job
from tests.images import SHARED_IMAGES, content_bytes, style_bytes
from tests.web.conftest import screenshot
from tests.web.test_page import fill_job, open_page

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def service_env(service_env: Env) -> Env:
    """Two built-in paintings offered, as on a fresh `make up`."""
    return Env(
        {
            **service_env.values,
            "NST_PRESETS_DIR": str(SHARED_IMAGES),
            "NST_PRESETS": "starry_night,the_scream",
        }
    )


def dropped(page: Page, files: dict[str, bytes]) -> JSHandle:
    """A DataTransfer holding ``files`` (name -> bytes), as a drag from the desktop carries."""
    encoded = {name: base64.b64encode(data).decode() for name, data in files.items()}
    return page.evaluate_handle(
        """files => { const transfer = new DataTransfer();
            for (const [name, data] of Object.entries(files)) {
              const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
              transfer.items.add(new File([bytes], name, { type: "image/jpeg" })); }
            return transfer; }""",
        encoded,
    )


def drop(page: Page, zone: str, files: dict[str, bytes]) -> None:
    transfer = dropped(page, files)
    page.dispatch_event(zone, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(zone, "drop", {"dataTransfer": transfer})


def test_dropped_photo_and_paintings_show_as_thumbnails_with_the_presets(
    desktop: Page, live_api: LiveAPI
) -> None:
    page = desktop
    open_page(page, live_api)
    drop(page, "#content-drop", {"photo.jpg": content_bytes(64)})
    expect(page.locator("#content-previews img")).to_have_count(1)
    expect(page.locator("#content-previews")).to_contain_text("photo.jpg · 64 \u00d7 48 px")
    assert page.eval_on_selector("#content", "input => input.files.length") == 1
    drop(page, "#style-drop", {"starry.jpg": style_bytes(64)})
    drop(page, "#style-drop", {"scream.jpg": style_bytes(64, "the_scream.jpg")})  # adds
    page.get_by_label("The Scream").check()  # a built-in one, beside the uploads
    tiles = page.locator("#chosen-styles .chosen-tile")
    expect(tiles).to_have_count(3)
    expect(page.locator("#chosen-styles")).to_contain_text("Chosen: 3 of at most 4, blended")
    assert page.eval_on_selector("#style", "input => input.files.length") == 2
    page.get_by_role("button", name="Remove starry.jpg").click()
    expect(tiles).to_have_count(2)
    assert page.eval_on_selector("#style", "input => input.files.length") == 1
    page.get_by_role("button", name="Remove The Scream").click()
    expect(page.get_by_label("The Scream")).not_to_be_checked()
    page.get_by_label("Size (long side, px)").fill("48")
    page.get_by_label("Iterations").fill("4")
    page.get_by_role("button", name="Start").click()  # what was dropped is what is sent
    expect(page.locator("#job-status")).to_have_text("Waiting for a free worker…")
    screenshot(page, "dropped")


def test_a_pasted_image_becomes_the_photo_then_a_painting(desktop: Page, live_api: LiveAPI) -> None:
    page = desktop
    open_page(page, live_api)
    for name, data in (("pasted.jpg", content_bytes(64)), ("painting.jpg", style_bytes(64))):
        transfer = dropped(page, {name: data})
        page.evaluate(
            "t => document.body.dispatchEvent(new ClipboardEvent('paste', "
            "{ clipboardData: t, bubbles: true }))",
            transfer,
        )
    expect(page.locator("#content-previews")).to_contain_text("pasted.jpg")
    expect(page.get_by_role("button", name="Remove painting.jpg")).to_be_visible()


def test_the_drop_zones_are_reached_and_ringed_from_the_keyboard(
    desktop: Page, live_api: LiveAPI
) -> None:
    """The file inputs are hidden inside their zones: the zone shows where focus is."""
    page = desktop
    open_page(page, live_api)
    page.locator("#api-key").focus()
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("() => document.activeElement.id"))
        if seen[-1] == "content":
            break
    assert seen[-1] == "content", seen
    ring = page.eval_on_selector("#content-drop", "zone => getComputedStyle(zone).outlineStyle")
    assert ring == "solid"


def test_presets_show_their_title_and_artist(desktop: Page, live_api: LiveAPI) -> None:
    open_page(desktop, live_api)
    starry = desktop.locator(".preset", has_text="The Starry Night")
    expect(starry).to_contain_text("Vincent van Gogh")


def test_the_strength_words_change_between_light_and_strong(
    desktop: Page, live_api: LiveAPI
) -> None:
    """'balanced' covered 0.32 to 2.5: a slider that moved without its word moving."""
    open_page(desktop, live_api)
    slider = desktop.get_by_label("Style strength")
    slider.focus()
    words = []
    for key in ["ArrowLeft"] * 5 + ["ArrowRight"] * 9:
        desktop.keyboard.press(key)
        words.append(desktop.locator("#strength-text").inner_text())
    assert words[4] == "0.32 (light)" and words[-1] == "2.5 (a little strong)", words
    assert sum("(balanced)" in word for word in words) == 4, words  # 0.79, 1, 1.3 only


def test_a_cancelled_queued_job_says_only_cancelled_and_focus_stays_on_the_card(
    desktop: Page, live_api: LiveAPI
) -> None:
    page = desktop
    open_page(page, live_api)
    fill_job(page, 4)
    page.get_by_role("button", name="Start").click()  # no worker: it stays queued
    expect(page.locator("#job-iteration")).to_have_text("Not started yet. Number 1 in the queue.")
    page.locator("#cancel").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#job-status")).to_have_text("Cancelled.")
    expect(page.locator("#job-iteration")).to_have_text("")  # not "Number 1 in the queue"
    expect(page.locator("#job")).to_be_focused()
    expect(page.locator("#jobs li .badge").first).to_have_text("cancelled")


def test_cancel_from_the_gallery_keeps_focus_on_that_picture(
    desktop: Page, live_api: LiveAPI
) -> None:
    page = desktop
    open_page(page, live_api)
    fill_job(page, 4)
    page.get_by_role("button", name="Start").click()
    card = page.locator("#jobs li").first
    card.get_by_role("button", name="Cancel").focus()
    page.keyboard.press("Enter")
    expect(card.locator(".badge")).to_have_text("cancelled")
    expect(card.get_by_role("button", name="Show")).to_be_focused()


def test_a_reload_shows_the_job_that_was_followed(desktop: Page, live_api: LiveAPI) -> None:
    page = desktop
    open_page(page, live_api)
    fill_job(page, 4)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#job-status")).to_have_text("Waiting for a free worker…")
    job_id = page.locator("#jobs li").first.get_attribute("data-job-id")
    assert page.url.endswith(f"#job={job_id}")
    page.reload()
    expect(page.locator("#job-status")).to_have_text("Waiting for a free worker…")
    expect(page.locator("#job-iteration")).to_have_text("Not started yet. Number 1 in the queue.")
    expect(page.get_by_label("Size (long side, px)")).to_have_value("48")  # the settings kept
    expect(page.get_by_label("Iterations")).to_have_value("4")
    page.goto(live_api.url + "/")  # no job in the URL: this browser remembers it
    expect(page.locator("#job")).to_be_visible()
    assert page.url.endswith(f"#job={job_id}")


def test_a_finished_picture_fills_its_frame_on_desktop_and_phone(
    desktop: Page, phone: Page, live_api: LiveAPI, start_worker: Callable[..., WorkerProcess]
) -> None:
    """A 48 px result was shown 48 px wide; on a phone a 512 px one scrolled sideways."""
    start_worker()
    page = desktop
    open_page(page, live_api)
    expect(page.locator("#estimate")).to_have_text(
        "No time estimate yet: no picture has been made on this service."
    )
    # A first visit with no measured pace: the smallest first settings, not 512 px / 300.
    max_size = requests.get(live_api.url + "/v1/meta", timeout=10).json()["limits"]["max_size"]
    expect(page.get_by_label("Size (long side, px)")).to_have_value(str(min(256, max_size)))
    expect(page.get_by_label("Iterations")).to_have_value("100")
    fill_job(page, 8)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#job-status")).to_have_text("Done.", timeout=120_000)
    expect(page).to_have_title("(done) Neural style transfer")  # for a look from another tab
    result = page.locator("#result")
    expect(result).to_be_visible()
    box = result.bounding_box()
    card = page.locator("#job").bounding_box()
    assert box and card
    assert page.eval_on_selector("#result", "img => img.naturalWidth") == 48
    assert box["width"] > 300, box  # large: the frame's width, not its 48 pixels
    assert box["height"] <= 800 * 0.75 + 1 and box["x"] + box["width"] <= card["x"] + card["width"]
    # The compare spans the whole picture: dragging across it shows the photo up to the pointer.
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    clip = page.eval_on_selector("#before", "img => img.style.clipPath")
    assert re.fullmatch(r"inset\(0px (7[0-9]|80)% 0px 0px\)", clip), clip
    page.get_by_role("button", name=re.compile("View full size \\(48 \u00d7 36\\)")).click()
    expect(page.locator("#full-image")).to_be_visible()
    assert page.eval_on_selector("#full-image", "img => img.getBoundingClientRect().width") == 48
    page.keyboard.press("Escape")
    expect(page.locator("#full-view")).to_be_hidden()
    page.reload()  # a finished picture now gives the estimate a pace
    expect(page.locator("#estimate")).to_have_text(re.compile(r"^About .+ once a worker takes it"))

    job_url = page.url
    open_page(phone, live_api)
    phone.goto(job_url)
    expect(phone.locator("#result")).to_be_visible()
    shown = phone.locator("#result").bounding_box()
    assert shown and shown["x"] >= 0 and shown["x"] + shown["width"] <= 390, shown
    assert phone.evaluate(NO_SIDEWAYS_SCROLL)
    screenshot(phone, "finished-phone")


def test_the_estimate_goes_by_the_measured_pace_and_says_who_waits(
    desktop: Page, live_api: LiveAPI, service_env: Env
) -> None:
    # A job recorded as a worker records it: 500 px (0.25 Mpx), 10 iterations, 4 s optimizing
    # without compiling = 1.6 s per Mpx-iteration; 3 s of start.
    record_finished_job(service_env, 500, 10, optimize=5.0, compile_=1.0)
    files = [
        ("content", ("c.jpg", content_bytes(), "image/jpeg")),
        ("style", ("s.jpg", style_bytes(), "image/jpeg")),
    ]
    requests.post(f"{live_api.url}/v1/jobs", files=files, headers=live_api.headers, timeout=30)
    open_page(desktop, live_api)
    # The first settings: the largest that fit two minutes at this pace is 512 px and 200
    # iterations (87 s; 300 would take 129 s), within this service's 128 px.
    expect(desktop.get_by_label("Iterations")).to_have_value("200")
    expect(desktop.get_by_label("Size (long side, px)")).to_have_value("128")
    # 3 s + 200 x 128^2/1e6 Mpx x 1.6 s = 8.2 s
    expect(desktop.locator("#estimate")).to_have_text(
        "About 8 s once a worker takes it, at the pace of the last picture here; less if it "
        "settles early. 1 picture is waiting for a worker now."
    )
    desktop.get_by_label("Size (long side, px)").fill("64")  # a quarter of the pixels
    expect(desktop.locator("#estimate")).to_have_text(re.compile(r"^About 4 s once"))


def test_the_phone_page_never_scrolls_sideways(phone: Page, live_api: LiveAPI) -> None:
    open_page(phone, live_api)
    assert phone.evaluate(NO_SIDEWAYS_SCROLL)
    long_name = "a-photo-with-a-very-long-file-name-" * 4 + ".jpg"
    drop(phone, "#content-drop", {long_name: content_bytes()})
    drop(phone, "#style-drop", {"starry.jpg": style_bytes(), "scream.jpg": style_bytes()})
    phone.get_by_label("The Starry Night").check()
    fill_job(phone, 4)
    phone.get_by_role("button", name="Start").click()
    expect(phone.locator("#job-status")).to_have_text("Waiting for a free worker…")
    assert phone.evaluate(NO_SIDEWAYS_SCROLL)
