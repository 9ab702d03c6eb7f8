"""``nst`` as people use it: re-attach with watch, JSON everywhere, bare host:port, paging.

Real subprocesses against the live API (and a real worker where a job must run).
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from api.keys import key_digest
from contract.jobs import JobStatus
from tests.cli.test_service_commands import NST, SMALL_JOB, images, nst, nst_env
from tests.fixtures.live import API_KEY, LiveAPI
from tests.helpers import submit
from tests.images import image_size


def submit_id(api: LiveAPI) -> str:
    """A small job submitted over the API, for tests whose subject is another command: each
    ``nst`` run is a Python start, and ``nst submit`` has tests of its own."""
    return str(submit(api, iterations=4, checkpoint_every=2)["id"])


def test_version_and_short_help() -> None:
    version = subprocess.run([NST, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("nst, version ")
    for args in (["-h"], ["submit", "-h"], ["watch", "-h"]):
        shown = subprocess.run([NST, *args], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and "Usage: nst" in shown.stdout, args


def test_api_given_as_host_and_port_without_a_scheme(live_api: LiveAPI) -> None:
    bare = live_api.url.removeprefix("http://")
    result = subprocess.run(
        [NST, "jobs", "--api", bare],
        env=nst_env(live_api),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "No jobs.\n"  # not a header row alone


def test_json_on_submit_jobs_and_cancel_and_a_second_cancel_succeeds(
    live_api: LiveAPI, tmp_path: Path
) -> None:
    submitted = nst(live_api, "submit", *images(tmp_path), *SMALL_JOB, "--json")
    job = json.loads(submitted.stdout)
    assert job["status"] == "queued" and job["params"]["size"] == 48
    listed = json.loads(nst(live_api, "jobs", "--json").stdout)
    assert [j["id"] for j in listed] == [job["id"]]
    cancelled = json.loads(nst(live_api, "cancel", job["id"], "--json").stdout)
    assert cancelled["status"] == "cancelled"
    again = nst(live_api, "cancel", job["id"])
    assert again.returncode == 0 and again.stdout.strip() == f"{job['id']}  cancelled"


def test_status_says_cancelling_while_a_cancel_is_pending(live_api: LiveAPI) -> None:
    job_id = submit_id(live_api)
    live_api.env.store().mark_running(job_id, "busy@host", stale_after=60)  # a worker has it
    assert (
        nst(live_api, "cancel", job_id)
        .stdout.strip()
        .endswith("cancelling: it stops at its next checkpoint")
    )
    shown = nst(live_api, "status", job_id)
    assert shown.stdout.split()[:2] == [job_id, "cancelling"]


def test_jobs_pages_filters_and_shows_local_times(live_api: LiveAPI) -> None:
    """Found by a user: the hint after --page 2 --limit 5 dropped --limit (an empty page)."""
    ids = [submit_id(live_api) for _ in range(3)]
    live_api.env.store().request_cancel(ids[0], key_digest(API_KEY)[:16])
    env = {**nst_env(live_api), "TZ": "Asia/Tokyo"}
    first = subprocess.run(
        [NST, "jobs", "--limit", "2"], env=env, capture_output=True, text=True, timeout=60
    )
    rows = first.stdout.splitlines()[1:]
    assert [row.split()[0] for row in rows] == ids[:0:-1]  # newest first
    hint = first.stderr.strip().removeprefix("more: ").split()
    assert hint[:4] == ["nst", "jobs", "--limit", "2"] and hint[4] == "--cursor"
    newer = submit_id(live_api)  # arrives between the pages: repeats nothing
    second = nst(live_api, *hint[1:])
    assert [row.split()[0] for row in second.stdout.splitlines()[1:]] == [ids[0]]
    assert second.stderr == ""  # the last page: no hint
    queued = nst(live_api, "jobs", "--status", "queued", "--limit", "1")
    assert [row.split()[0] for row in queued.stdout.splitlines()[1:]] == [newer]
    assert "nst jobs --status queued --limit 1 --cursor " in queued.stderr
    as_json = nst(live_api, "jobs", "--limit", "1", "--json")  # a script can page too
    assert len(json.loads(as_json.stdout)) == 1 and "--cursor " in as_json.stderr
    none = nst(live_api, "jobs", "--status", "running")
    assert (none.returncode, none.stdout) == (0, "No running jobs.\n")
    record = json.loads(nst(live_api, "status", ids[2], "--json").stdout)
    local = datetime.fromisoformat(record["created_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
    assert local.strftime("%Y-%m-%d %H:%M:%S") in rows[0]


def test_watch_reattaches_to_a_running_job_and_downloads_it(
    worker_api: LiveAPI, tmp_path: Path
) -> None:
    job_id = submit_id(worker_api)
    out = tmp_path / "watched.png"
    watched = subprocess.run(
        [NST, "watch", job_id, "-o", str(out)],
        env=nst_env(worker_api),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert watched.returncode == 0, watched.stderr
    assert "succeeded" in watched.stderr and f"saved {out}" in watched.stderr
    assert image_size(out.read_bytes())[0] == 48
    assert os.path.getsize(out) > 0


def test_submit_needs_a_style_file_or_a_preset(live_api: LiveAPI, tmp_path: Path) -> None:
    content, _ = images(tmp_path)
    no_style = nst(live_api, "submit", content, *SMALL_JOB)
    assert no_style.returncode == 2 and "--preset" in no_style.stderr
    unknown = nst(live_api, "submit", content, "--preset", "mona_lisa", *SMALL_JOB)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("nst: error: unknown style preset 'mona_lisa'")


def test_delete_removes_a_finished_jobs_images_and_cancel_never_does(live_api: LiveAPI) -> None:
    job_id = submit_id(live_api)
    early = nst(live_api, "delete", job_id)
    assert early.returncode == 2 and f"cancel it first (nst cancel {job_id})" in early.stderr
    assert live_api.env.store().get(job_id).status == JobStatus.QUEUED  # delete never cancels
    store = live_api.env.store()
    store.mark_running(job_id, "w@host", stale_after=60)
    store.finish(job_id, JobStatus.SUCCEEDED)
    refused = nst(live_api, "cancel", job_id)
    assert refused.returncode == 2 and "already succeeded" in refused.stderr
    assert "nothing was cancelled or deleted" in refused.stderr
    assert live_api.env.storage().exists(f"jobs/{job_id}/content.jpg")
    deleted = nst(live_api, "delete", job_id)
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"{job_id}  images deleted"
    assert not live_api.env.storage().exists(f"jobs/{job_id}/content.jpg")


def test_submit_wait_says_when_a_job_stopped_early(worker_api: LiveAPI, tmp_path: Path) -> None:
    """A bar that ends at 150/300 looks like a failure unless the CLI says why it stopped."""
    out = tmp_path / "out.png"
    done = nst(
        worker_api,
        "submit",
        *images(tmp_path),
        "--size",
        "48",
        "--iterations",
        "300",
        "--early-stop",
        "0.05",
        "--checkpoint-every",
        "10",
        "--wait",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "stopped early at iteration" in done.stderr and "iterations saved" in done.stderr
    assert out.is_file()
