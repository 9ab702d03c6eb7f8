"""One job schema, one error registry: every copy is generated from them, and checked here.

``JobParams`` (contract/params.py) makes the flags of ``nst run`` and ``nst submit``, the OpenAPI
form fields, the web form's ranges (``/v1/meta``) and the client's checks; ``contract/errors.py``
makes the API's statuses, the client's exceptions, the CLI's exit codes and the page's
messages. A field or code added in one place shows up everywhere, or one of these fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask import Flask

from api.errors import render
from api.openapi import document
from cli import main
from cli.errors import exit_code
from contract import errors
from contract.errors import error_from_body
from contract.param_specs import param_specs
from contract.params import JobParams, Limits

FIELDS = list(JobParams.model_fields)
STATIC = Path(__file__).resolve().parents[2] / "api" / "web" / "static"
SCRIPTS = [STATIC / "app.js", *sorted((STATIC / "js").glob("*.js"))]
CODE_USES = [  # the ways the page names an error code
    r'code === "(\w+)"',
    r'new ApiError\("(\w+)"',
    r'code = "(\w+)"',
    r'fieldError\([^\n]*?"(\w+)"\)',
]


def _flags(command: str) -> dict[str, click.Option]:
    found = main.commands[command].params
    return {p.name: p for p in found if isinstance(p, click.Option) and p.name in FIELDS}


@pytest.mark.parametrize("command", ["run", "submit"])
def test_every_job_parameter_is_a_flag(command: str) -> None:
    flags = _flags(command)
    assert list(flags) == FIELDS  # every field, in the schema's order
    assert flags["optimizer"].type.choices == ("lbfgs", "adam")  # type: ignore[attr-defined]
    assert "--content-layer-weights" in flags["content_layer_weights"].opts


@pytest.mark.parametrize("command", ["run", "submit"])
def test_help_shows_choices_defaults_and_ranges(command: str) -> None:
    text = CliRunner().invoke(main, [command, "--help"], terminal_width=200).output
    assert "[lbfgs|adam]" in text
    assert "default: 512; 16 <= x" in text  # size
    assert "0 < x <= 1000" in text  # learning_rate
    assert "from block1_conv1, block1_conv2" in text  # layer names


def test_openapi_submit_form_has_every_job_parameter(app: Flask) -> None:
    with app.app_context():
        spec = document(app.extensions["nst"].limits)
    form = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    properties = form["schema"]["properties"]
    assert set(FIELDS) <= set(properties)
    assert properties["size"]["maximum"] == int(app.extensions["nst"].settings.max_size)
    assert properties["optimizer"]["enum"] == ["lbfgs", "adam"]


def test_meta_gives_the_web_form_every_parameter_and_the_servers_limits(app: Flask) -> None:
    meta = app.test_client().get("/v1/meta").json
    assert [spec["name"] for spec in meta["params"]] == FIELDS
    size = next(spec for spec in meta["params"] if spec["name"] == "size")
    assert size["maximum"] == meta["limits"]["max_size"] == app.extensions["nst"].limits.max_size
    assert meta["statuses"]["final"] == ["succeeded", "failed", "cancelled"]
    assert meta["errors"] == {c: k.headline for c, k in errors.registered().items()}


def test_the_page_copies_no_codes_headlines_statuses_or_limits() -> None:
    script = "\n".join(path.read_text() for path in SCRIPTS)
    used = {code for pattern in CODE_USES for code in re.findall(pattern, script)}
    assert {"service_unreachable", "upload_too_large", "job_not_found"} <= used
    assert used <= set(errors.registered()), used - set(errors.registered())
    for headline in (kind.headline for kind in errors.registered().values()):
        assert headline not in script, f"app.js copies the headline {headline!r}"
    assert '"succeeded", "failed", "cancelled"' not in script
    assert not re.search(r"\b(1024|2000)\b", script), "limits come from /v1/meta"


def test_the_page_copies_no_choices_ranges_or_defaults_of_a_parameter() -> None:
    """The form's controls are empty in the HTML: /v1/meta fills their options, words, ranges
    and starting values (``setUpForm``), so the page cannot drift from the schema."""
    page = (STATIC / "index.html").read_text()
    script = "\n".join(path.read_text() for path in SCRIPTS)
    assert "<option" not in page
    for spec in param_specs():
        control = re.search(rf'<(input|select)\b[^>]*\bname="{spec.name}"[^>]*>', page)
        if control is None:
            continue
        assert not re.search(r"\b(min|max|value)=", control.group(0)), control.group(0)
        for choice in spec.choices or ():
            assert f'"{choice}"' not in script, f"the page copies {spec.name}'s {choice!r}"
        for label in spec.choice_labels or ():  # as an option's text, or a string in a script
            copies = (f">{label}<", f'"{label}"')
            assert not any(c in page + script for c in copies), f"the page copies {label!r}"
    slider = re.search(r'<input id="strength"[^>]*>', page)
    assert slider and not re.search(r"\b(min|max|value)=", slider.group(0)), "style_strength"


def test_a_choice_field_has_words_for_each_choice_in_the_schema() -> None:
    """The page shows ``choice_labels``; one missing would show a bare value instead."""
    for spec in param_specs():
        if spec.choice_labels is not None:
            assert len(spec.choice_labels) == len(spec.choices or ()), spec.name
    preserve = next(spec for spec in param_specs() if spec.name == "preserve_color")
    assert preserve.choice_labels and preserve.choices == ("none", "luminance", "histogram")


def test_the_settings_job_limits_default_to_the_contracts() -> None:
    """NST_MAX_SIZE, NST_MAX_ITERATIONS and NST_MAX_STYLE_IMAGES: one default, in Limits."""
    from shared.settings import Settings

    defaults = {name: Settings.model_fields[name].default for name in Limits.__dataclass_fields__}
    assert Limits(**defaults) == Limits()


@pytest.mark.parametrize("code", sorted(errors.registered()))
def test_each_error_code_makes_the_same_exception_on_the_client(app: Flask, code: str) -> None:
    kind = errors.registered()[code]
    raised = kind("what went wrong")
    with app.test_request_context():
        response, status = render(raised)
    assert status == kind.http_status
    rebuilt = error_from_body(response.json["error"], status, response.headers.get("Retry-After"))
    assert type(rebuilt) is kind and rebuilt.message == "what went wrong"
    assert exit_code(rebuilt) == kind.exit_code


def test_exit_codes_follow_the_kind_of_failure() -> None:
    assert exit_code(errors.InvalidParams("x")) == errors.EXIT_USAGE
    assert exit_code(errors.StorageUnavailable("x")) == errors.EXIT_UNAVAILABLE
    assert exit_code(errors.ServiceUnreachable("x")) == errors.EXIT_UNAVAILABLE
    assert exit_code(errors.JobEnded("x")) == errors.EXIT_JOB_FAILED


def test_every_setting_is_documented_in_the_readme() -> None:
    """Settings are the configuration contract: an NST_* variable nobody can find is not one."""
    from shared.settings import Settings

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    undocumented = [
        f"NST_{name.upper()}"
        for name in Settings.model_fields
        if f"`NST_{name.upper()}`" not in readme
    ]
    assert undocumented == [], f"add these to README.md's configuration table: {undocumented}"
