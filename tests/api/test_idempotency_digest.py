"""The Idempotency-Key fingerprint of a submission reads any well-formed multipart body.

Found from outside (schemathesis): a part with no ``name`` made the fingerprint sort ``None``
beside field names, and ``POST /v1/jobs`` with an Idempotency-Key answered 500.
"""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.api.conftest import AUTH
from tests.images import content_bytes, style_bytes

BOUNDARY = "nst-boundary"


def multipart(parts: list[tuple[str, bytes]]) -> bytes:
    """A raw multipart/form-data body from (Content-Disposition, payload) pairs."""
    body = b""
    for disposition, payload in parts:
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += payload + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def test_a_nameless_part_with_an_idempotency_key_is_no_server_error(client: FlaskClient) -> None:
    body = multipart([
        ('form-data; name="content"; filename="c.jpg"', content_bytes()),
        ('form-data; name="style"; filename="s.jpg"', style_bytes()),
        ('form-data; name="size"', b"48"),
        ("form-data", b"a part without a name"),
    ])  # fmt: skip
    headers = {**AUTH, "Idempotency-Key": "nameless-1"}
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    first = client.post("/v1/jobs", data=body, headers=headers, content_type=content_type)
    again = client.post("/v1/jobs", data=body, headers=headers, content_type=content_type)
    assert first.status_code == 202, first.json
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
