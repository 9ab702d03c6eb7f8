"""The page at ``/``: submit, watch progress and checkpoints, download, errors in words."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from tests.fixtures.live import LiveAPI
from tests.images import content_bytes, image_size, style_bytes
from tests.web.conftest import screenshot

ITERATIONS = 60
CARD_IN_STEP = """() => {
    const line = document.getElementById("job-iteration").textContent;
    const match = /^Iteration (\\d+) \\/ (\\d+) ·/.exec(line);
    const card = document.querySelector("#jobs li");
    if (!match || !card || document.getElementById("job-status").textContent !== "Painting…") {
        return false;
    }
    const percent = Math.round((100 * Number(match[1])) / Number(match[2]));
    return Number(match[1]) > 0 && card.querySelector("img.thumb") !== null
        && card.querySelector(".when").textContent.endsWith(` · ${percent}%`); }"""


def png(name: str, data: bytes) -> dict[str, object]:
    return {"name": name, "mimeType": "image/jpeg", "buffer": data}


def open_page(page: Page, api: LiveAPI) -> None:
    """Load the page and enter the key the way a person would."""
    page.goto(api.url + "/")
    page.get_by_label("Key", exact=True).fill(api.headers["Authorization"].removeprefix("Bearer "))
    page.get_by_role("button", name="Save key").click()
    expect(page.locator("#key-note")).to_have_text("Key saved in this browser.")


def fill_job(page: Page, iterations: int, content: bytes | None = None) -> None:
    page.set_input_files("#content", png("photo.jpg", content or content_bytes(64)))
    page.set_input_files(
        "#style",
        [png("starry.jpg", style_bytes(64)), png("scream.jpg", style_bytes(64, "the_scream.jpg"))],
    )
    page.get_by_label("Size (long side, px)").fill("48")
    page.get_by_label("Iterations").fill(str(iterations))


def test_job_progress_preview_result_and_download(
    page: Page, worker_api: LiveAPI, tmp_path: Path
) -> None:
    open_page(page, worker_api)
    fill_job(page, ITERATIONS)
    expect(page.locator("#chosen-styles .chosen-tile")).to_have_count(2)
    page.get_by_role("button", name="Start").click()

    midway = re.compile(rf"Iteration ([1-9]\d*) / {ITERATIONS} · about .* left")
    expect(page.locator("#job-iteration")).to_have_text(midway, timeout=120_000)
    expect(page.locator("#preview")).to_be_visible()
    # The job's card in the gallery says the same at the same moment (it said "no picture yet
    # · 0%" while the job card showed iteration 5/40 and a checkpoint).
    page.wait_for_function(CARD_IN_STEP)
    assert page.eval_on_selector("#preview", "img => img.naturalWidth") > 0
    assert page.eval_on_selector("#job-progress", "bar => bar.value") > 0
    screenshot(page, "running")

    expect(page.locator("#job-status")).to_have_text("Done.", timeout=120_000)
    done = re.compile(  # the total time; the default early stop may end a settled picture
        rf"(Iteration {ITERATIONS} / {ITERATIONS} · took \d+ s"
        rf"|Iteration \d+ / {ITERATIONS} · stopped early, \d+ saved · took \d+ s)"
    )
    expect(page.locator("#job-iteration")).to_have_text(done)
    expect(page.locator("#result")).to_be_visible()
    assert page.eval_on_selector("#result", "img => img.naturalWidth") == 48
    assert page.eval_on_selector("#result", "img => img.getBoundingClientRect().width") > 48
    expect(page.locator("#result-size")).to_have_text(re.compile("48 \u00d7 \\d+ px"))
    page.get_by_label("Before / after").fill("100")  # the whole photo before, over the result
    clip = page.eval_on_selector("#before", "img => img.style.clipPath")
    assert (
        clip == "inset(0px 0% 0px 0px)"
        and page.eval_on_selector("#before", "img => img.naturalWidth") > 0
    )
    expect(page.locator("#jobs li .badge").first).to_have_text("succeeded")
    screenshot(page, "finished")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    saved = tmp_path / "download.png"
    download_info.value.save_as(saved)
    assert saved.read_bytes().startswith(b"\x89PNG")
    assert image_size(saved.read_bytes())[0] == 48


def test_non_image_upload_shows_the_reason_at_the_photo_field(
    page: Page, live_api: LiveAPI
) -> None:
    """A text file named .png: the server's invalid_image names the field; the page marks it."""
    open_page(page, live_api)
    fill_job(page, 4, content=b"this is a text file, not a photo")
    page.get_by_role("button", name="Start").click()
    error = page.locator("#content-error")
    expect(error).to_have_text(
        "That file is not an image the service can read: "
        "content image is not a JPEG, PNG or WebP image."
    )
    expect(error).not_to_contain_text("invalid_image")
    expect(page.locator("#content")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#content")).to_be_focused()
    expect(page.locator("#form-error")).to_be_hidden()
    expect(page.locator("#job")).to_be_hidden()
    screenshot(page, "non-image-error")


def test_wrong_key_is_explained_and_a_queued_job_is_cancelled_from_the_list(
    page: Page, live_api: LiveAPI
) -> None:
    page.goto(live_api.url + "/")
    expect(page.locator("#list-error")).to_have_text(
        "The API key was not accepted: send an API key as 'Authorization: Bearer <key>'."
    )
    open_page(page, live_api)
    expect(page.locator("#list-error")).to_be_hidden()
    fill_job(page, 4)
    page.get_by_role("button", name="Start").click()  # no worker: the job stays queued
    expect(page.locator("#job-status")).to_have_text("Waiting for a free worker…")
    page.locator("#jobs li").first.get_by_role("button", name="Cancel").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#job-status")).to_have_text("Cancelled.")
    expect(page.locator("#jobs li .badge").first).to_have_text("cancelled")
    screenshot(page, "cancelled")


def test_style_strength_slider_sends_style_strength_on_a_log_scale(
    page: Page, live_api: LiveAPI
) -> None:
    """The slider was a 1e2..1e6 style_weight that changed nothing; now it is the API's knob."""
    open_page(page, live_api)
    slider = page.get_by_label("Style strength")
    expect(page.locator("#strength-text")).to_have_text("1 (balanced)")
    assert slider.get_attribute("min") == "-2" and slider.get_attribute("max") == "2"
    slider.focus()
    for _ in range(10):  # ten steps of a tenth of a decade: 1 -> 10
        page.keyboard.press("ArrowRight")
    expect(page.locator("#strength-text")).to_have_text("10 (strong)")
    fill_job(page, 4)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#job-status")).to_have_text("Waiting for a free worker…")
    jobs = requests.get(f"{live_api.url}/v1/jobs", headers=live_api.headers, timeout=10).json()
    params = jobs["jobs"][0]["params"]
    assert params["style_strength"] == 10 and params["style_weight"] is None
