"""Turn a multipart ``POST /v1/jobs`` into validated parameters and decoded images.

Everything is checked here, before anything is stored or queued: parameters
through the shared schema, every file through the shared image decoder (bomb
guard included), and the number of style images against the limits.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from flask import Request
from werkzeug.datastructures import FileStorage

from shared.errors import InvalidParams
from shared.images import decode_image, encode_input
from shared.params import JobParams, Limits, parse_params

FILE_FIELDS = ("content", "style")


@dataclass(frozen=True)
class Submission:
    """A validated job: its parameters and its images, already re-encoded for storage."""

    params: JobParams
    content: bytes
    styles: list[bytes]


def parse_submission(
    request: Request, limits: Limits, max_pixels: int, pool: Executor
) -> Submission:
    """Validate a submission completely; raise InvalidParams or ImageError on the first problem.

    Images are decoded and re-encoded on ``pool`` in parallel: Pillow releases the GIL,
    and this is most of a submission's server time.
    """
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
    style_side = math.ceil(params.size * params.style_scale)
    uploads = [(contents[0], "content image", params.size)]
    uploads += [(upload, f"style image {i + 1}", style_side) for i, upload in enumerate(styles)]
    prepared = list(pool.map(lambda item: _prepare(item[0], item[1], item[2], max_pixels), uploads))
    return Submission(params, prepared[0], prepared[1:])


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


def _prepare(upload: FileStorage, name: str, long_side: int, max_pixels: int) -> bytes:
    """Decode fully (the check) and re-encode (what is stored: never the uploaded bytes).

    Stored no larger than the job can use (``long_side`` or a little more), which also
    keeps the worker's reads small.
    """
    return encode_input(decode_image(upload.read(), max_pixels, name=name, long_side=long_side))
