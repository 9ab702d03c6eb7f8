"""Every HTTP request the repository's clients, benchmarks and tests send has a timeout.

Found from outside (issue 21, failure 6): benchmarks/scale.py's client had none, so one submit
the server never answered hung the whole benchmark for over 8 minutes. ``requests`` waits for
ever by default; this reads every Python file and names each call that does not say how long
it may wait (Flask's in-process test client, which has no socket, is not an HTTP call here).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.fixtures.services import REPO

FOLDERS = (
    "api",
    "shared",
    "contract",
    "client",
    "cli",
    "worker",
    "benchmarks",
    "examples",
    "deploy",
    "tests",
)
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "request"}


def http_calls_without_timeout(path: Path) -> list[str]:
    """``requests.<method>(...)`` or ``<a session>.<method>(...)`` calls without ``timeout=``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = ast.unparse(node.func.value).lower()
        http_client = "requests" in receiver or "session" in receiver
        is_http = node.func.attr in HTTP_METHODS and http_client
        is_urlopen = node.func.attr == "urlopen" and "urllib" in receiver
        given = {keyword.arg for keyword in node.keywords}
        if (is_http or is_urlopen) and "timeout" not in given and None not in given:
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)[:100]}")
    return found


def test_every_http_request_in_the_repository_has_a_timeout() -> None:
    files = [path for folder in FOLDERS for path in (REPO / folder).rglob("*.py")]
    assert len(files) > 100  # the scan saw the repository
    missing = [call for path in sorted(files) for call in http_calls_without_timeout(path)]
    assert missing == [], "pass timeout= to these:\n" + "\n".join(missing)
