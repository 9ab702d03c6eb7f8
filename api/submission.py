"""Turn a multipart ``POST /v1/jobs`` into validated parameters and decoded images.

Everything is checked here, before anything is stored or queued: the form's shape (no field
twice, no unknown file), the ``params`` JSON within bounds on length and depth before it is
parsed, parameters through the shared schema and the deployment's limits, every file through
the shared image decoder (bomb guard, every colour mode, EXIF orientation), and every image's
aspect ratio against the sizes the engine will work at.
"""

from __future__ import annotations

import hashlib
import json
import math
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from flask import Request
from werkzeug.datastructures import FileStorage

from contract.errors import ImageError, InvalidParams, TooManyFiles
from contract.params import JobParams, Limits, parse_params
from contract.webhooks import WEBHOOK_FIELDS, JobWebhook, check_target, parse_webhook
from shared.images import check_working_sizes, decode_image, encode_input
from shared.presets import Preset, PresetCatalog
from shared.settings import Settings

FILE_FIELDS = ("content", "style")
PRESET_FIELD = "style_preset"
# Form fields that are not JobParams fields (webhooks do not change the picture).
NOT_PARAMS = frozenset({"params", PRESET_FIELD, *WEBHOOK_FIELDS})
MAX_PARAMS_JSON_CHARS = 16 * 1024
MAX_PARAMS_JSON_DEPTH = 8
MAX_NUMBER_DIGITS = 32


@dataclass(frozen=True)
class Submission:
    """A validated job: its parameters, its images re-encoded for storage, its preset styles.

    The job's styles are the uploaded ones in order, then the presets in order (``style_blend``
    weighs them in that order).
    """

    params: JobParams
    content: bytes
    styles: list[bytes]
    presets: tuple[Preset, ...] = ()


def parse_submission(
    request: Request,
    limits: Limits,
    max_pixels: int,
    pool: Executor,
    catalog: PresetCatalog | None = None,
) -> Submission:
    """Validate a submission completely; raise InvalidParams or ImageError on the first problem.

    Images are decoded and re-encoded on ``pool`` in parallel: Pillow releases the GIL,
    and this is most of a submission's server time.
    """
    if not request.mimetype.startswith("multipart/form-data"):
        raise InvalidParams("send the job as multipart/form-data with content and style files")
    _check_form_shape(request)
    contents = request.files.getlist("content")
    styles = request.files.getlist("style")
    if len(styles) > limits.max_style_images:
        raise TooManyFiles(
            f"at most {limits.max_style_images} style images are allowed per job, "
            f"got {len(styles)} files in 'style'",
            field="style",
        )
    if len(contents) != 1:
        raise InvalidParams(
            "send exactly one content image in the 'content' field", field="content"
        )
    catalog = catalog or PresetCatalog(None)
    presets = _presets(request, catalog)
    params = parse_params(_raw_params(request), limits, style_count=len(styles) + len(presets))
    style_side = math.ceil(params.size * params.style_scale)
    uploads = [(contents[0], "content image", params.size, "content")]
    uploads += [
        (upload, f"style image {i + 1}", style_side, "style") for i, upload in enumerate(styles)
    ]
    decoded = list(pool.map(lambda u: _decode(u[0], u[1], u[2], u[3], max_pixels), uploads))
    sizes = [image.size for image in decoded[1:]] + [catalog.size(p) for p in presets]
    check_working_sizes(params, decoded[0].size, sizes)
    encoded = list(pool.map(encode_input, decoded))
    return Submission(params, encoded[0], encoded[1:], presets)


def _presets(request: Request, catalog: PresetCatalog) -> tuple[Preset, ...]:
    """The built-in styles asked for in ``style_preset`` (comma-separated ids)."""
    raw = request.form.get(PRESET_FIELD, "")
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    return tuple(catalog.get(preset_id) for preset_id in ids)


def _check_form_shape(request: Request) -> None:
    """No unknown file field, no nameless part, and no form field twice (which one would win
    is a guess)."""
    if None in request.form or None in request.files:
        raise InvalidParams("a form part has no name (Content-Disposition: form-data; name=...)")
    unexpected = [name for name in request.files if name not in FILE_FIELDS]
    if unexpected:
        raise InvalidParams(f"unknown file field {unexpected[0]!r}", field=unexpected[0])
    doubled = [name for name in request.form if len(request.form.getlist(name)) > 1]
    if doubled:
        raise InvalidParams(f"{doubled[0]} is given more than once", field=doubled[0])


def _raw_params(request: Request) -> dict[str, Any]:
    """Parameters from one JSON ``params`` field or from individual form fields, not both."""
    fields = {k: v for k, v in request.form.items() if k not in NOT_PARAMS}
    if "params" not in request.form:
        return fields
    data = load_params_json(request.form["params"])
    both = sorted(set(data) & set(fields))
    if both:
        raise InvalidParams(f"{both[0]} is given twice (form field and params)", field=both[0])
    return {**data, **fields}


def load_params_json(text: str) -> dict[str, Any]:
    """Parse the ``params`` JSON object, bounded in length, depth and number size first.

    Python's parser recurses per nesting level and converts integers of any length, so an
    unbounded document is a cheap way to make the server fail (RecursionError, ValueError).
    """
    if len(text) > MAX_PARAMS_JSON_CHARS:
        raise InvalidParams(
            f"params is longer than {MAX_PARAMS_JSON_CHARS} characters", field="params"
        )
    if _nesting_depth(text) > MAX_PARAMS_JSON_DEPTH:
        raise InvalidParams(
            f"params is nested deeper than {MAX_PARAMS_JSON_DEPTH} levels", field="params"
        )
    try:
        data = json.loads(text, parse_int=_bounded_int)  # NaN, inf: the schema names the field
    except json.JSONDecodeError as exc:
        raise InvalidParams(f"params is not valid JSON: {exc.msg}", field="params") from None
    if not isinstance(data, dict):
        raise InvalidParams("params must be a JSON object", field="params")
    return data


def _nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects, counted outside strings (linear, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise InvalidParams(f"params holds a number with over {MAX_NUMBER_DIGITS} digits", "params")
    return int(text)


def _decode(upload: FileStorage, name: str, long_side: int, field: str, max_pixels: int) -> Any:
    """Decode fully: the check, and what is stored (re-encoded, never the uploaded bytes).

    An ImageError names the form field of the file (``field``), so the page marks that field.
    """
    try:
        return decode_image(upload.read(), max_pixels, name=name, long_side=long_side)
    except ImageError as exc:
        exc.field = field
        raise


def request_digest(request: Request) -> str:
    """A fingerprint of what was asked: form fields and file contents, not their names.

    Two requests with one Idempotency-Key must be the same request; this tells whether they
    are. The files are read and rewound, so the submission can still read them.
    """
    digest = hashlib.sha256()
    # A part may come without a name (werkzeug keys it None): it is part of what was asked too.
    fields = sorted(request.form.items(multi=True), key=lambda item: (item[0] or "", item[1]))
    for name, value in fields:
        digest.update(f"field:{name}={value}\0".encode())
    for name, upload in request.files.items(multi=True):
        digest.update(f"file:{name}:".encode() + hashlib.sha256(upload.read()).digest())
        upload.stream.seek(0)
    return digest.hexdigest()


def parse_webhook_fields(request: Request, settings: Settings) -> JobWebhook | None:
    """The optional ``webhook_url`` and ``webhook_events`` fields; InvalidParams naming either.

    Refused when this deployment sends no webhooks (no NST_WEBHOOK_SECRET), and, unless
    NST_WEBHOOK_ALLOW_PRIVATE is set, when the URL's host does not resolve to public addresses
    only (the delivery checks again when it connects: DNS can change in between).
    """
    spec = parse_webhook(request.form.get("webhook_url"), request.form.get("webhook_events"))
    if spec is None:
        return None
    if settings.webhook_secret is None:
        raise InvalidParams("this service does not send webhooks", field="webhook_url")
    if not settings.webhook_allow_private:
        check_target(spec)
    return JobWebhook(**spec.model_dump())
