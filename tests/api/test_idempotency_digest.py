"""A multipart part without a name is refused in one clear way, with or without a key.

Found from outside (schemathesis): such a part made the Idempotency-Key fingerprint sort
``None`` beside field names, and ``POST /v1/jobs`` with a key answered 500; without a key the
answer named a field ``None``.
"""

from __future__ import annotations

import pytest
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


@pytest.mark.parametrize("key", [None, "nameless-1"])
def test_a_nameless_part_is_refused_as_bad_input(client: FlaskClient, key: str | None) -> None:
    body = multipart(
        [
            ('form-data; name="content"; filename="c.jpg"', content_bytes()),
            ('form-data; name="style"; filename="s.jpg"', style_bytes()),
            ('form-data; name="size"', b"48"),
            ("form-data", b"a part without a name"),
        ]
    )
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    answer = client.post("/v1/jobs", data=body, headers=headers, content_type=content_type)
    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["code"] == "invalid_params"
    assert answer.json["error"]["message"].startswith("a form part has no name")
    assert "field" not in answer.json["error"]
