"""The ``nst`` client commands as real subprocesses against the live API and a real worker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.fixtures.live import API_KEY, LiveAPI, wait_for
from tests.fixtures.services import REPO
from tests.images import content_bytes, image_size, style_bytes

NST = str(Path(sys.executable).parent / "nst")
ARTIFACTS = REPO / "test-artifacts" / "cli"
SMALL_JOB = ("--size", "48", "--optimizer", "adam", "--checkpoint-every", "2")


def nst_env(api: LiveAPI) -> dict[str, str]:
    key = api.headers["Authorization"].removeprefix("Bearer ")
    return {**os.environ, "NST_API_URL": api.url, "NST_API_KEY": key}


def nst(api: LiveAPI, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NST, *args], env=nst_env(api), capture_output=True, text=True, timeout=120
    )


def images(tmp_path: Path) -> tuple[str, str]:
    content, style = tmp_path / "content.jpg", tmp_path / "style.jpg"
    content.write_bytes(content_bytes(64))
    style.write_bytes(style_bytes(64))
    return str(content), str(style)


def job_status(api: LiveAPI, job_id: str) -> str:
    response = requests.get(f"{api.url}/v1/jobs/{job_id}", headers=api.headers, timeout=10)
    return str(response.json()["status"])


# Runs its arguments with SIGINT at its default: a process started from a shell without job
# control (a background `make test`) inherits SIGINT ignored, and so would `nst`, which then
# never sees the Ctrl-C a test sends. exec keeps the default; preexec_fn is unsafe with threads.
SIGINT_DEFAULT = (
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
)


def start_waiting(api: LiveAPI, tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """``nst submit --wait`` with no worker: it prints the id, then waits on a queued job."""
    proc = subprocess.Popen(
        [
            *SIGINT_DEFAULT,
            NST,
            "submit",
            *images(tmp_path),
            *SMALL_JOB,
            "--iterations",
            "4",
            "--wait",
            "-o",
            str(tmp_path / "never.png"),
        ],
        env=nst_env(api),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_submit_wait_writes_the_png_and_status_jobs_download_agree(
    worker_api: LiveAPI, tmp_path: Path
) -> None:
    out = tmp_path / "out.png"
    done = nst(
        worker_api,
        "submit",
        *images(tmp_path),
        *SMALL_JOB,
        "--iterations",
        "8",
        "--wait",
        "-o",
        str(out),
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "submit-wait.txt").write_text(done.stdout + done.stderr.replace("\r", "\n"))
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert out.read_bytes().startswith(b"\x89PNG") and image_size(out.read_bytes())[0] == 48
    # stderr is a pipe here, not a terminal: one plain line per state, no \r, no repeats
    lines = done.stderr.splitlines()
    assert "\r" not in done.stderr and len(lines) == len(set(lines)), done.stderr
    assert lines[-2:] == ["succeeded at iteration 8 of 8", f"saved {out}"], done.stderr
    assert "running" in lines

    status = nst(worker_api, "status", job_id)
    assert status.returncode == 0 and status.stdout.split()[:3] == [job_id, "succeeded", "8/8"]
    table = nst(worker_api, "jobs").stdout.splitlines()
    assert table[0].split() == ["ID", "STATUS", "PROGRESS", "CREATED"]
    assert table[1].split()[:2] == [job_id, "succeeded"]
    again = tmp_path / "again.png"
    assert nst(worker_api, "download", job_id, "-o", str(again)).returncode == 0
    assert again.read_bytes() == out.read_bytes()


def test_cancelled_job_ends_the_wait_with_exit_1(live_api: LiveAPI, tmp_path: Path) -> None:
    proc, job_id = start_waiting(live_api, tmp_path)
    cancel = nst(live_api, "cancel", job_id)
    assert cancel.returncode == 0 and cancel.stdout.strip() == f"{job_id}  cancelled"
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert stderr.strip().splitlines()[-1] == f"nst: error: job {job_id} cancelled"
    assert not (tmp_path / "never.png").exists()
    download = nst(live_api, "download", job_id, "-o", str(tmp_path / "x.png"))
    assert download.returncode == 1 and download.stderr.startswith("nst: error:")


def test_ctrl_c_while_waiting_leaves_the_job_running(live_api: LiveAPI, tmp_path: Path) -> None:
    proc, job_id = start_waiting(live_api, tmp_path)
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    shown: list[bytes] = []

    def bar_shown() -> bool:
        with contextlib.suppress(BlockingIOError):
            shown.append(os.read(proc.stderr.fileno(), 4096))
        return b"in the queue" in b"".join(shown) or proc.poll() is not None

    wait_for(bar_shown, 30, "the progress bar", every=0.05)
    proc.send_signal(signal.SIGINT)
    os.set_blocking(proc.stderr.fileno(), True)
    stderr = b"".join(shown).decode() + proc.communicate(timeout=30)[1]
    assert proc.returncode == 130, stderr
    assert f"keeps running. Re-attach with: nst watch {job_id}" in stderr
    assert job_status(live_api, job_id) == "queued"
    assert "queued, number 1 in the queue" in stderr and "0it" not in stderr, stderr


def test_non_image_file_exits_2_with_one_line(live_api: LiveAPI, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    result = nst(live_api, "submit", str(text), images(tmp_path)[1], *SMALL_JOB)
    assert result.returncode == 2
    assert result.stderr == "nst: error: content image is not a JPEG, PNG or WebP image\n"
    assert result.stdout == ""


def test_bad_flag_exits_2_with_one_line(live_api: LiveAPI, tmp_path: Path) -> None:
    result = nst(live_api, "submit", *images(tmp_path), "--sharpness", "3")
    assert result.returncode == 2
    assert result.stderr == "nst: error: No such option '--sharpness'. Did you mean '--scales'?\n"


def test_bad_parameter_value_exits_2_naming_it(live_api: LiveAPI, tmp_path: Path) -> None:
    result = nst(live_api, "submit", *images(tmp_path), "--iterations", "0")
    assert result.returncode == 2
    assert result.stderr.startswith("nst: error: iterations:") and result.stderr.count("\n") == 1


def test_unreachable_service_exits_3(tmp_path: Path) -> None:
    result = subprocess.run(
        [NST, "jobs", "--api", "http://127.0.0.1:9", "--api-key", API_KEY],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert result.stderr == (
        "nst: error: cannot reach the service at http://127.0.0.1:9 (Connection refused)\n"
    )
