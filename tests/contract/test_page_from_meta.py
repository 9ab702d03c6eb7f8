"""The page's form in a real Chromium: what index.html leaves empty, /v1/meta fills.

``test_one_schema`` proves the page writes no choice, words or range of its own; this proves the
page then shows the schema's: the preserve_color options with their words, and the strength
slider's range and starting point.
"""

from __future__ import annotations

import math

from playwright.sync_api import Page, expect

from contract.param_specs import param_specs
from tests.fixtures.live import LiveAPI
from tests.web.conftest import browser, page  # noqa: F401


def test_the_forms_choices_and_slider_come_from_meta(page: Page, live_api: LiveAPI) -> None:  # noqa: F811
    specs = {spec.name: spec for spec in param_specs()}
    page.goto(live_api.url + "/")
    select = page.get_by_label("Keep the photo's colours")
    preserve = specs["preserve_color"]
    expect(select.locator("option")).to_have_count(len(preserve.choices or ()))
    options = select.locator("option")
    assert options.evaluate_all("os => os.map(o => o.value)") == list(preserve.choices or ())
    assert options.all_inner_texts() == list(preserve.choice_labels or ())
    assert select.input_value() == preserve.default
    slider = page.get_by_label("Style strength")
    strength = specs["style_strength"]
    assert strength.minimum is not None and strength.maximum is not None
    assert float(slider.get_attribute("min") or "nan") == math.log10(strength.minimum)
    assert float(slider.get_attribute("max") or "nan") == math.log10(strength.maximum)
    assert float(slider.input_value()) == math.log10(strength.default)
