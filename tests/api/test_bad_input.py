"""Bad input gets a specific 4xx JSON error and nothing else: no job, no queued task, no object.

One table of malicious and broken requests, each sent to the app in-process (Flask's test client,
the body as bytes; real Redis, real S3 endpoint), then the checks that nothing was created
anywhere; and the whole table once more over real HTTP to one server, which must stay well.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import numpy as np
import pytest
import requests
from flask.testing import FlaskClient
from PIL import Image
from urllib3 import encode_multipart_formdata

from api.app import create_app
from api.keys import key_digest
from tests.api.conftest import AUTH
from tests.fixtures.live import API_KEY, Env, LiveAPI
from tests.images import content_bytes, photo_bytes, style_bytes

BASE_PARAMS: dict[str, Any] = {"size": 64, "iterations": 4}
UUID = "3f2b4c1e-0d1a-4b2c-9e3f-5a6b7c8d9e0f"


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def png_of(width: int, height: int) -> bytes:
    """A real PNG of the given size (a grey gradient)."""
    pixels = (np.arange(width * height, dtype=np.uint32) % 251).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.reshape(height, width), "L").save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(data: bytes, name: str = "c.jpg") -> tuple[str, bytes, str]:
    return (name, data, "image/jpeg")


def png(data: bytes, name: str = "c.png") -> tuple[str, bytes, str]:
    return (name, data, "image/png")


GOOD_CONTENT = ("content", jpeg(content_bytes()))
GOOD_STYLE = ("style", jpeg(style_bytes(), "s.jpg"))


@dataclass(frozen=True)
class BadRequest:
    """One request: multipart (form and files) encoded as ``requests`` would, or a raw body."""

    method: str = "POST"
    path: str = "/v1/jobs"
    form: dict[str, str] | list[tuple[str, str]] | None = None
    files: list[tuple[str, Any]] | None = None
    body: bytes | None = None
    content_type: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def send(self, client: FlaskClient) -> tuple[int, dict[str, str], bytes]:
        """In-process, the body as bytes: a form encoded as ``requests`` encodes it (multipart
        by urllib3 when there are files), anything else as written; the path as written."""
        body, content_type = self.body, self.content_type
        form = list(self.form.items() if isinstance(self.form, dict) else (self.form or []))
        if self.files is not None:
            body, content_type = encode_multipart_formdata([*form, *self.files])
        elif self.form is not None:
            body, content_type = urlencode(form).encode(), "application/x-www-form-urlencoded"
        response = client.open(
            self.path,
            method=self.method,
            data=body,
            headers=AUTH,
            **({"content_type": content_type} if content_type else {}),
        )
        return response.status_code, dict(response.headers), response.get_data()


def _send_verbatim(
    api: LiveAPI, method: str, path: str, body: bytes | None, content_type: str | None
) -> tuple[int, dict[str, str], bytes]:
    """http.client keeps the path and body as written: no dot-segment removal, no re-encoding."""
    headers = {**api.headers, **({"Content-Type": content_type} if content_type else {})}
    connection = http.client.HTTPConnection(urlsplit(api.url).netloc, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def submission(
    params: dict[str, Any] | None = None,
    files: list[tuple[str, Any]] | None = None,
    form: dict[str, str] | list[tuple[str, str]] | None = None,
    env: dict[str, str] | None = None,
) -> BadRequest:
    """A multipart POST /v1/jobs: good images and BASE_PARAMS unless told otherwise."""
    if isinstance(form, list):
        return BadRequest(form=form, files=[GOOD_CONTENT, GOOD_STYLE] if files is None else files)
    fields = dict(form or {})
    if params is not None:
        fields["params"] = json.dumps({**BASE_PARAMS, **params})
    elif form is None:
        fields["params"] = json.dumps(BASE_PARAMS)
    chosen = [GOOD_CONTENT, GOOD_STYLE] if files is None else files
    return BadRequest(form=fields, files=chosen, env=env or {})


def raw_params(text: str) -> BadRequest:
    return BadRequest(form={"params": text}, files=[GOOD_CONTENT, GOOD_STYLE])


def case(case_id: str, request: BadRequest, status: int, code: str, fld: str | None = None) -> Any:
    """One row: the request, then the status, error code and (where there is one) field."""
    return pytest.param(request, status, code, fld, id=case_id)


# (field, below its minimum, above its maximum); the maxima of size, iterations and
# checkpoint_every come from the deployment (NST_MAX_SIZE=128 here, NST_MAX_ITERATIONS 2000).
NUMERIC_BOUNDS: list[tuple[str, Any, Any]] = [
    ("size", 15, 129),
    ("iterations", 0, 2001),
    ("learning_rate", 0, 1000.5),
    ("content_weight", -1, 1e13),
    ("style_weight", -0.5, 1e13),
    ("tv_weight", -1e-9, 1e13),
    ("style_scale", 0.05, 4.5),
    ("scales", 0, 5),
    ("seed", -1, 2**31),
    ("checkpoint_every", 0, 2001),
]
WRONG_TYPES: list[tuple[str, Any]] = [("string", "abc"), ("boolean", True), ("list", [1])]


def _numeric_cases() -> Iterator[Any]:
    for name, below, above in NUMERIC_BOUNDS:
        for label, value in [("below-minimum", below), ("above-maximum", above), *WRONG_TYPES]:
            yield case(f"{name}-{label}", submission({name: value}), 400, "invalid_params", name)


def _job_id_cases() -> Iterator[Any]:
    not_ids = {
        "short-number": ("123", 400, "invalid_params", "job_id"),
        "uuid-with-trailing-junk": (f"{UUID}junk", 400, "invalid_params", "job_id"),
        "uuid-uppercase": (UUID.upper(), 400, "invalid_params", "job_id"),
        "percent-encoded-dots": ("%2e%2e", 400, "invalid_params", "job_id"),
        "quoted-shell": ("%24%28id%29%3B%60ls%60", 400, "invalid_params", "job_id"),
        "dot-dot-traversal": ("../../etc/passwd", 404, "not_found", None),
        "percent-encoded-traversal": ("..%2F..%2Fetc%2Fpasswd", 404, "not_found", None),
    }
    routes = [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/cancel"),
        ("GET", "/result"),
        ("GET", "/preview"),
    ]
    for label, (job_id, status, code, fld) in not_ids.items():
        for method, suffix in routes:
            request = BadRequest(method=method, path=f"/v1/jobs/{job_id}{suffix}")
            yield case(
                f"job-id-{label}-{method}{suffix.replace('/', '-')}", request, status, code, fld
            )


CASES = [
    # The envelope
    case("empty-body", BadRequest(), 400, "invalid_params"),
    case(
        "json-body-not-multipart",
        BadRequest(body=json.dumps(BASE_PARAMS).encode(), content_type="application/json"),
        400,
        "invalid_params",
    ),
    case(
        "malformed-multipart",
        BadRequest(
            body=b"--x\r\nnot a part at all", content_type="multipart/form-data; boundary=x"
        ),
        400,
        "invalid_params",
        "content",
    ),
    case(
        "multipart-without-boundary",
        BadRequest(body=b"whatever", content_type="multipart/form-data"),
        400,
        "invalid_params",
        "content",
    ),
    case(
        "two-hundred-unknown-form-fields",
        submission(form={f"f{i}": "1" for i in range(200)}),
        400,
        "invalid_params",
        "f0",
    ),
    case(
        "too-many-form-parts-for-the-parser",
        submission(form={f"f{i}": "1" for i in range(1001)}),
        413,
        "form_too_large",
    ),
    case(
        "form-field-over-memory-limit",
        submission(form={"params": json.dumps({**BASE_PARAMS, "pad": "x" * 1_100_000})}),
        413,
        "form_too_large",
    ),
    case(
        "seventy-style-files",
        submission(files=[GOOD_CONTENT, *[GOOD_STYLE] * 69]),
        400,
        "too_many_files",
        "style",
    ),
    case(
        "urlencoded-not-multipart",
        BadRequest(form={"params": json.dumps(BASE_PARAMS)}),
        400,
        "invalid_params",
    ),
    case(
        "multipart-without-files",
        BadRequest(files=[("params", (None, json.dumps(BASE_PARAMS)))]),
        400,
        "invalid_params",
        "content",
    ),
    case("no-content", submission(files=[GOOD_STYLE]), 400, "invalid_params", "content"),
    case("no-style", submission(files=[GOOD_CONTENT]), 400, "invalid_params", "style"),
    case(
        "two-content-files",
        submission(files=[GOOD_CONTENT, GOOD_CONTENT, GOOD_STYLE]),
        400,
        "invalid_params",
        "content",
    ),
    case(
        "unknown-file-field",
        submission(files=[GOOD_CONTENT, GOOD_STYLE, ("mask", jpeg(style_bytes()))]),
        400,
        "invalid_params",
        "mask",
    ),
    case(
        "more-style-images-than-allowed",
        submission(files=[GOOD_CONTENT] + [GOOD_STYLE] * 5),
        400,
        "too_many_files",
        "style",
    ),
    # The images
    case(
        "zero-byte-content",
        submission(files=[("content", jpeg(b"")), GOOD_STYLE]),
        400,
        "invalid_image",
        "content",
    ),
    case(
        "zero-byte-style",
        submission(files=[GOOD_CONTENT, ("style", png(b"", "s.png"))]),
        400,
        "invalid_image",
        "style",
    ),
    case(
        "truncated-jpeg",
        submission(files=[("content", jpeg(content_bytes()[:-400])), GOOD_STYLE]),
        400,
        "invalid_image",
        "content",
    ),
    case(
        "truncated-png",
        submission(
            files=[("content", png(photo_bytes("tubingen.jpg", 64, "PNG")[:600])), GOOD_STYLE]
        ),
        400,
        "invalid_image",
        "content",
    ),
    case(
        "text-file-named-png",
        submission(files=[("content", png(b"just some text, not pixels\n" * 20)), GOOD_STYLE]),
        400,
        "invalid_image",
        "content",
    ),
    case(
        "gif-decoder-not-allowed",
        submission(
            files=[
                ("content", ("c.gif", photo_bytes("tubingen.jpg", 64, "GIF"), "image/gif")),
                GOOD_STYLE,
            ]
        ),
        400,
        "invalid_image",
        "content",
    ),
    case(
        "bmp-decoder-not-allowed",
        submission(
            files=[
                GOOD_CONTENT,
                ("style", ("s.bmp", photo_bytes("starry_night.jpg", 64, "BMP"), "image/bmp")),
            ]
        ),
        400,
        "invalid_image",
        "style",
    ),
    case(
        "image-bomb-beyond-pillow-guard",
        submission(files=[("content", png(png_declaring(100_000, 100_000))), GOOD_STYLE]),
        413,
        "image_too_large",
        "content",
    ),
    case(
        "image-bomb-over-default-max-pixels",
        submission(files=[GOOD_CONTENT, ("style", png(png_declaring(8000, 6000), "s.png"))]),
        413,
        "image_too_large",
        "style",
    ),
    case(
        "real-image-over-lowered-max-pixels",
        submission(env={"NST_MAX_PIXELS": "2048"}),
        413,
        "image_too_large",
        "content",
    ),
    case(
        "upload-over-max-upload-bytes",
        submission(
            files=[("content", jpeg(content_bytes() + b"\0" * (2 * 1024 * 1024))), GOOD_STYLE]
        ),
        413,
        "upload_too_large",
    ),
    # The parameters
    *_numeric_cases(),
    case(
        "nan-in-params-json",
        raw_params('{"size": 64, "learning_rate": NaN}'),
        400,
        "invalid_params",
        "learning_rate",
    ),
    case(
        "infinity-in-params-json",
        raw_params('{"size": 64, "style_weight": Infinity}'),
        400,
        "invalid_params",
        "style_weight",
    ),
    case(
        "nan-as-form-field",
        submission(form={"size": "64", "tv_weight": "nan"}),
        400,
        "invalid_params",
        "tv_weight",
    ),
    case(
        "minus-infinity-as-form-field",
        submission(form={"size": "64", "content_weight": "-inf"}),
        400,
        "invalid_params",
        "content_weight",
    ),
    case(
        "nan-in-a-weight-list",
        submission({"style_layer_weights": [1.0, float("nan"), 1.0, 1.0, 1.0]}),
        400,
        "invalid_params",
        "style_layer_weights",
    ),
    case("unknown-parameter", submission({"colour": "blue"}), 400, "invalid_params", "colour"),
    case(
        "unknown-form-field",
        submission(form={"size": "64", "__class__": "x"}),
        400,
        "invalid_params",
        "__class__",
    ),
    case(
        "unknown-style-layer",
        submission({"style_layers": ["block1_conv1", "block9_conv9"]}),
        400,
        "invalid_params",
        "style_layers",
    ),
    case(
        "unknown-content-layer",
        submission({"content_layers": ["../../etc/passwd"]}),
        400,
        "invalid_params",
        "content_layers",
    ),
    case(
        "style-layer-weights-wrong-length",
        submission({"style_layer_weights": [1.0, 2.0]}),
        400,
        "invalid_params",
        "style_layer_weights",
    ),
    case(
        "style-blend-count-not-style-count",
        submission({"style_blend": [0.5, 0.5]}),
        400,
        "invalid_params",
        "style_blend",
    ),
    case("bad-enum", submission({"optimizer": "sgd"}), 400, "invalid_params", "optimizer"),
    case(
        "parameter-given-twice",
        submission(form={"params": json.dumps(BASE_PARAMS), "size": "32"}),
        400,
        "invalid_params",
        "size",
    ),
    # Found from outside (issue 11): none of these may take a worker or the API down.
    case(
        "thin-20000x1-content-at-size-48",
        submission({"size": 48}, files=[("content", png(png_of(20000, 1))), GOOD_STYLE]),
        400,
        "unsupported_aspect_ratio",
    ),
    case(
        "thin-1x5000-style",
        submission(files=[GOOD_CONTENT, ("style", png(png_of(1, 5000), "s.png"))]),
        400,
        "unsupported_aspect_ratio",
    ),
    case(
        "wide-content-at-the-coarsest-of-3-scales",
        submission(
            {"size": 128, "scales": 3}, files=[("content", png(png_of(300, 100))), GOOD_STYLE]
        ),
        400,
        "unsupported_aspect_ratio",
    ),
    case(
        "params-json-nested-100000-deep",
        raw_params("[" * 100_000 + "]" * 100_000),
        400,
        "invalid_params",
        "params",
    ),
    case(
        "params-json-nested-20-deep",
        raw_params('{"size": ' + "[" * 20 + "]" * 20 + "}"),
        400,
        "invalid_params",
        "params",
    ),
    case(
        "params-json-integer-of-5000-digits",
        raw_params('{"size": ' + "9" * 5000 + "}"),
        400,
        "invalid_params",
        "params",
    ),
    case(
        "form-field-integer-of-5000-digits",
        submission(form={"size": "9" * 5000}),
        400,
        "invalid_params",
        "size",
    ),
    case(
        "size-given-twice-as-form-fields",
        submission(form=[("size", "64"), ("size", "32")]),
        400,
        "invalid_params",
        "size",
    ),
    case(
        "params-given-twice",
        submission(form=[("params", json.dumps(BASE_PARAMS)), ("params", "{}")]),
        400,
        "invalid_params",
        "params",
    ),
    case(
        "weights-whose-product-overflows-float32",
        submission({"style_weight": 1e12, "style_layer_weights": [1e30, 1, 1, 1, 1]}),
        400,
        "invalid_params",
        "style_layer_weights",
    ),
    case("params-not-json", raw_params("{size: 64"), 400, "invalid_params", "params"),
    case("params-json-array", raw_params("[64, 4]"), 400, "invalid_params", "params"),
    case("params-json-null", raw_params("null"), 400, "invalid_params", "params"),
    # The job id
    *_job_id_cases(),
]


@pytest.fixture
def start_api(service_env: Env) -> Callable[..., tuple[FlaskClient, Env]]:
    """The app in-process on the test's services, with some settings overridden."""

    def start(**overrides: str) -> tuple[FlaskClient, Env]:
        env = Env({**service_env.values, **overrides})
        return create_app(env.settings(), test_config={"TESTING": True}).test_client(), env

    return start


def stored_objects(env: Env) -> list[str]:
    """Every object under this test's storage prefix, read straight from the S3 endpoint."""
    location = urlsplit(env.values["NST_STORAGE_URL"])
    s3 = boto3.client("s3", endpoint_url=env.values["NST_S3_ENDPOINT_URL"], region_name="us-east-1")
    listing = s3.list_objects_v2(Bucket=location.netloc, Prefix=location.path.lstrip("/"))
    return [item["Key"] for item in listing.get("Contents", [])]


def assert_nothing_created(env: Env) -> None:
    store = env.store()
    owner = key_digest(API_KEY)[:16]
    assert store.list_for_owner(owner, None, 0, 10) == []
    assert store.active_count(owner) == 0
    assert store.redis.llen(env.values["NST_QUEUE"]) == 0
    assert stored_objects(env) == []


def assert_error(
    answer: tuple[int, dict[str, str], bytes], status: int, code: str, fld: str | None
) -> None:
    got_status, headers, body = answer
    assert got_status == status, body
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    error = json.loads(body)["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"].strip()
    assert error.get("field") == fld, error


@pytest.mark.parametrize(("request_", "status", "code", "fld"), CASES)
def test_bad_request_gets_a_specific_error_and_creates_nothing(
    start_api: Callable[..., tuple[FlaskClient, Env]],
    request_: BadRequest,
    status: int,
    code: str,
    fld: str | None,
) -> None:
    client, env = start_api(**request_.env)
    assert_error(request_.send(client), status, code, fld)
    assert_nothing_created(env)


def test_after_every_bad_request_the_api_is_healthy_and_accepts_a_good_job(
    live_api: LiveAPI,
) -> None:
    """Over real HTTP, every bad request in turn on one server: none leaves it unwell."""
    for case in CASES:
        request_, status, code, fld = case.values
        if not request_.env:
            assert_error(_send_over_http(live_api, request_), status, code, fld)
    assert_nothing_created(live_api.env)
    assert requests.get(f"{live_api.url}/readyz", timeout=10).status_code == 200
    response = requests.post(
        f"{live_api.url}/v1/jobs",
        data={"params": json.dumps(BASE_PARAMS)},
        files=[GOOD_CONTENT, GOOD_STYLE],
        headers=live_api.headers,
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert live_api.env.store().redis.llen(live_api.env.values["NST_QUEUE"]) == 1


def _send_over_http(api: LiveAPI, request_: BadRequest) -> tuple[int, dict[str, str], bytes]:
    """The request through ``requests`` (multipart) or ``http.client`` (as written)."""
    if request_.form is None and request_.files is None:
        return _send_verbatim(
            api, request_.method, request_.path, request_.body, request_.content_type
        )
    response = requests.request(
        request_.method,
        api.url + request_.path,
        data=request_.form,
        files=request_.files,
        headers=api.headers,
        timeout=30,
    )
    return response.status_code, dict(response.headers), response.content


def test_oversized_upload_is_refused_before_its_body_is_read(live_api: LiveAPI) -> None:
    """Declare 10x the limit, send a few bytes: the 413 must come without waiting for the rest."""
    declared = 10 * int(live_api.env.values["NST_MAX_UPLOAD_BYTES"])
    address = urlsplit(live_api.url)
    head = (
        "POST /v1/jobs HTTP/1.1\r\n"
        f"Host: {address.netloc}\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {declared}\r\n\r\n"
        '--xyz\r\nContent-Disposition: form-data; name="content"; filename="c.jpg"\r\n\r\n'
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head.encode() + content_bytes())
        reply = sock.makefile("rb").read()  # the server answers and closes; never times out
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "upload_too_large"
    assert_nothing_created(live_api.env)
