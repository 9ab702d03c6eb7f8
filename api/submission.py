"""Turn a multipart ``POST /v1/jobs`` into validated parameters and decoded images.

Everything is checked here, before anything is stored or queued: parameters
through the shared schema, every file through the shared image decoder (bomb
guard included), and the number of style images against the limits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Request
from PIL import Image
from werkzeug.datastructures import FileStorage

from shared.errors import InvalidParams
from shared.images import decode_image
from shared.params import JobParams, Limits, parse_params

FILE_FIELDS = ("content", "style")


@dataclass(frozen=True)
class Submission:
    params: JobParams
    content: Image.Image
    styles: list[Image.Image]


def parse_submission(request: Request, limits: Limits, max_pixels: int) -> Submission:
    """Validate a submission completely; raise InvalidParams or ImageError on the first problem."""
    if not request.mimetype.startswith("multipart/form-data"):
        raise InvalidParams("send the job as multipart/form-data with content and style files")
    unexpected = [name for name in request.files if name not in FILE_FIELDS]
    if unexpected:
        raise InvalidParams(f"unknown file field {unexpected[0]!r}", field=unexpected[0])
    params = parse_params(_raw_params(request), limits)
    contents = request.files.getlist("content")
    styles = request.files.getlist("style")
    if len(contents) != 1:
        raise InvalidParams(
            "send exactly one content image in the 'content' field", field="content"
        )
    params.check_style_count(len(styles), limits)
    content = _decode(contents[0], max_pixels, "content image")
    decoded = [_decode(f, max_pixels, f"style image {i + 1}") for i, f in enumerate(styles)]
    return Submission(params, content, decoded)


def _raw_params(request: Request) -> dict[str, Any]:
    """Parameters from one JSON ``params`` field or from individual form fields, not both."""
    fields = {k: v for k, v in request.form.items() if k != "params"}
    if "params" not in request.form:
        return fields
    try:
        data = json.loads(request.form["params"])
    except json.JSONDecodeError as exc:
        raise InvalidParams(f"params is not valid JSON: {exc.msg}", field="params") from None
    if not isinstance(data, dict):
        raise InvalidParams("params must be a JSON object", field="params")
    both = sorted(set(data) & set(fields))
    if both:
        raise InvalidParams(f"{both[0]} is given twice (form field and params)", field=both[0])
    return {**data, **fields}


def _decode(upload: FileStorage, max_pixels: int, name: str) -> Image.Image:
    return decode_image(upload.read(), max_pixels, name=name)
