"""``nst`` as clig.dev describes a good CLI: help that teaches, output fit for where it goes,
errors that say what is wrong. Real subprocesses; a real foreign HTTP server where one is needed.
"""

from __future__ import annotations

import os
import pty
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cli import main
from contract.errors import EXIT_NOT_SERVICE, EXIT_UNAVAILABLE
from contract.jobs import JobStatus, Progress
from shared.storage import JobKeys
from tests.cli.test_cli_features import submit_id
from tests.cli.test_service_commands import NST, nst_env
from tests.fixtures.live import API_KEY, LiveAPI
from tests.images import content_bytes


def run_nst(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NST, *args], capture_output=True, text=True, timeout=60, env=env)


def test_bare_nst_prints_the_help_and_succeeds() -> None:
    """Found by a user: bare ``nst`` printed 'nst: error: Usage:' and the help, exit 2."""
    bare = run_nst()
    assert (bare.returncode, bare.stderr) == (0, "")
    assert bare.stdout.startswith("Usage: nst") and "Examples:" in bare.stdout


def test_help_has_examples_exit_statuses_and_whole_summaries() -> None:
    """Found by a user: no examples, no exit codes, and summaries cut off with '...'."""
    shown = run_nst("--help").stdout
    commands = shown.partition("Commands:")[2].partition("Examples:")[0]
    assert "..." not in commands and "…" not in commands
    for name, command in main.commands.items():
        assert f"{name}  " in commands and command.get_short_help_str() in commands, name
    for code in ("0", "1", "2", "3", str(EXIT_NOT_SERVICE), "130"):
        assert f"\n    {code} " in shown.partition("Exit status:")[2], code
    for name in ("submit", "jobs", "cancel"):
        own = run_nst(name, "--help").stdout
        assert f"nst {name} " in own.partition("Examples:")[2] and "Exit status:" in own, name


class _Foreign(BaseHTTPRequestHandler):
    """Some other web server: HTML for every path, with the status the test sets."""

    status = 404

    def do_GET(self) -> None:
        body = b"<html><body>Not Found</body></html>"
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def foreign_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Foreign)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "exit_status"),
    [(404, EXIT_NOT_SERVICE), (200, EXIT_NOT_SERVICE), (502, EXIT_UNAVAILABLE)],
)
def test_a_server_that_is_not_this_service_is_named_with_its_own_exit_status(
    foreign_server: ThreadingHTTPServer, status: int, exit_status: int
) -> None:
    """Found by a user: a foreign server's 404 gave 'HTTP 404' and exit 1 ('the job failed')."""
    foreign_server.status = status  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{foreign_server.server_address[1]}"
    result = run_nst(
        "status", "3f2b6c1e-0000-4000-8000-000000000000", "--api", url, "--api-key", API_KEY
    )
    assert result.returncode == exit_status, result.stderr
    assert result.stderr.startswith(f"nst: error: {url}/v1/jobs/")
    assert result.stderr.count("\n") == 1
    if exit_status == EXIT_NOT_SERVICE:
        assert "is not the style-transfer service; check --api or NST_API_URL" in result.stderr


def test_watch_on_a_finished_job_shows_its_end_not_a_bar(live_api: LiveAPI, tmp_path: Path) -> None:
    """Found by a user: 'queued [00:00]succeeded' and a rate of 559240 it/s, in a terminal."""
    job_id = submit_id(live_api)
    store = live_api.env.store()
    store.mark_running(job_id, "w@host", stale_after=60)
    store.record_progress(job_id, "w@host", Progress(iteration=4, total=4), has_preview=False)
    live_api.env.storage().put(JobKeys(job_id).result, content_bytes(48), "image/png")
    store.finish(job_id, JobStatus.SUCCEEDED)
    out = tmp_path / "watched.png"
    shown = _in_terminal([NST, "watch", job_id, "-o", str(out)], nst_env(live_api))
    assert "succeeded at iteration 4 of 4" in shown and f"saved {out}" in shown, shown
    assert "queued" not in shown and "it/s" not in shown, shown
    assert out.is_file()


def _in_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run with stderr on a pseudo-terminal (so the CLI sees a terminal); return what it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0, drawn
    return drawn.decode(errors="replace")


def test_a_job_id_that_is_a_path_is_refused_before_any_request() -> None:
    """'../../healthz' as a job id was resolved into another route, whose answer is no job."""
    result = run_nst("status", "../../healthz", "--api", "http://127.0.0.1:9")
    assert result.returncode == 2  # not 3: no request was sent to the unreachable URL
    assert result.stderr == "nst: error: not a job id: '../../healthz' (expected a UUID)\n"


def test_the_old_page_flag_says_what_replaced_it() -> None:
    result = run_nst("jobs", "--page", "2", "--api", "http://127.0.0.1:9")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("nst: error: --page is gone") and "--cursor" in result.stderr


def test_a_path_after_the_service_url_is_named_with_its_own_exit_status(live_api: LiveAPI) -> None:
    """The service itself, with a path before /v1: its route 404 is not 'the job failed'."""
    wrong = f"{live_api.url}/api"
    result = run_nst(
        "status", "3f2b6c1e-0000-4000-8000-000000000000", "--api", wrong, "--api-key", API_KEY
    )
    assert result.returncode == EXIT_NOT_SERVICE, result.stderr
    assert result.stderr.startswith(f"nst: error: {wrong}/v1/jobs/")
    unknown = run_nst(
        "status",
        "3f2b6c1e-0000-4000-8000-000000000000",
        "--api",
        live_api.url,
        "--api-key",
        API_KEY,
    )
    assert unknown.returncode == 2 and "no job" in unknown.stderr  # a job_not_found stays 2
