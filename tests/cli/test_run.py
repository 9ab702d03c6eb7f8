"""``nst run``: bad input gives one line and exit status 2 with no output file; runs and resumes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from cli import main
from cli.errors import exit_code
from contract.errors import ConfigError, EngineFailure, ImageError, InvalidParams, JobCancelled
from tests.cli.test_service_commands import NST
from tests.helpers import free_port

SHARED_IMAGES = Path(__file__).resolve().parents[3] / "shared" / "images"


@pytest.fixture
def files(tmp_path: Path, content: Image.Image, starry_night: Image.Image) -> dict[str, Path]:
    """Small real images, a truncated JPEG and a text file pretending to be an image."""
    paths = {"content": tmp_path / "content.jpg", "style": tmp_path / "style.png"}
    content.save(paths["content"])
    starry_night.save(paths["style"])
    data = paths["content"].read_bytes()
    paths["truncated"] = tmp_path / "truncated.jpg"
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["text"] = tmp_path / "notes.png"
    paths["text"].write_text("not an image")
    return paths


@pytest.fixture
def runner(weights_path: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("NST_VGG19_WEIGHTS", weights_path)
    return CliRunner()


def _run(runner: CliRunner, files: dict[str, Path], output: Path, *extra: str) -> Result:
    """``nst run content style -o output extra...``, in this process."""
    args = ["run", str(files["content"]), str(files["style"]), "-o", str(output), *extra]
    return runner.invoke(main, args)


def _assert_one_line_usage_error(result, output: Path, match: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nst: error: ") and match in lines[0]
    assert not output.exists()


@pytest.mark.parametrize(
    ("which", "match"),
    [("truncated", "truncated or corrupt"), ("text", "not a JPEG"), ("missing", "cannot read")],
)
def test_unreadable_content_gives_one_line_and_status_2(runner, files, tmp_path, which, match):
    output = tmp_path / "out.png"
    bad = str(files.get(which, tmp_path / "missing.jpg"))
    result = runner.invoke(main, ["run", bad, str(files["style"]), "-o", str(output)])
    _assert_one_line_usage_error(result, output, match)


def test_image_over_the_pixel_limit_is_refused(runner, files, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_MAX_PIXELS", "2000")
    output = tmp_path / "out.png"
    _assert_one_line_usage_error(_run(runner, files, output), output, "pixels")


def test_bad_parameter_names_the_field(runner, files, tmp_path):
    output = tmp_path / "out.png"
    _assert_one_line_usage_error(_run(runner, files, output, "--size", "8"), output, "size:")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ([], "Missing argument 'STYLES...'"),
        (["--sharpness", "3"], "No such option '--sharpness'"),
        (["--size"], "'--size' requires an argument"),
    ],
)
def test_usage_errors_are_one_line_and_status_2(runner, files, tmp_path, args, match):
    output = tmp_path / "out.png"
    styles = [] if not args else [str(files["style"])]
    result = runner.invoke(main, ["run", str(files["content"]), *styles, "-o", str(output), *args])
    _assert_one_line_usage_error(result, output, match)


def test_wrong_weights_file_is_a_configuration_error(runner, files, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_VGG19_WEIGHTS", str(tmp_path / "missing.weights.h5"))
    output = tmp_path / "out.png"
    result = _run(runner, files, output, "--size", "32")
    _assert_one_line_usage_error(result, output, "NST_VGG19_WEIGHTS: no file at")


def test_imagenet_weights_offline_say_to_set_nst_vgg19_weights(
    runner, files, tmp_path, monkeypatch
):
    monkeypatch.setenv("NST_VGG19_WEIGHTS", "imagenet")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")  # no way out
    output = tmp_path / "out.png"
    result = _run(runner, files, output, "--size", "32")
    _assert_one_line_usage_error(result, output, "set NST_VGG19_WEIGHTS to a local")


@pytest.mark.parametrize(
    ("which", "match"),
    [("content", "content image is 700x20"), ("style", "style image 1 is 700x20")],
)
def test_an_aspect_ratio_the_engine_cannot_serve_is_named_before_it_starts(
    runner, files, tmp_path, which, match
):
    """As the API does at submit: the image named, before any model is loaded (found from
    outside: a thin image failed inside the engine, after the model loaded, as just "image")."""
    thin = tmp_path / "thin.png"
    Image.new("RGB", (700, 20), (40, 90, 160)).save(thin)
    images = {"content": str(files["content"]), "style": str(files["style"]), which: str(thin)}
    output = tmp_path / "out.png"
    args = ["run", images["content"], images["style"], "-o", str(output), "--size", "512"]
    _assert_one_line_usage_error(runner.invoke(main, args), output, match)


def test_output_folder_that_does_not_exist_fails_before_the_engine_starts(runner, files, tmp_path):
    output = tmp_path / "missing" / "out.png"
    result = _run(runner, files, output, "--size", "32")
    _assert_one_line_usage_error(result, output, "does not exist")
    assert "saved" not in result.stderr


def test_run_writes_png_and_json_then_resumes_from_checkpoint_dir(runner, files, tmp_path):
    output, checkpoints = tmp_path / "out.png", tmp_path / "ckpt"
    args = [
        "run",
        str(files["content"]),
        str(files["style"]),
        "-o",
        str(output),
        "--size",
        "32",
        "--iterations",
        "2",
        "--checkpoint-every",
        "1",
        "--checkpoint-dir",
        str(checkpoints),
        "--json",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"saved {output}" in result.stderr  # success says where the result went
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["iterations"] == 2 and summary["size"] == [32, 24]
    assert summary["output"] == str(output)  # found by a user: --json did not say where
    assert {"seconds", "seconds_per_iteration", "content_loss", "style_loss", "total_loss"} <= set(
        summary
    )
    assert Image.open(output).size == (32, 24)
    assert (checkpoints / "state.bin").is_file() and (
        checkpoints / "checkpoint_00001.png"
    ).is_file()
    resumed = runner.invoke(main, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["iterations"] == 2


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidParams("x"), 2),
        (ImageError("x"), 2),
        (ConfigError("x"), 2),
        (EngineFailure("x"), 1),
        (JobCancelled("x"), 1),
        (ConnectionError("x"), 3),
    ],
)
def test_errors_map_to_exit_codes(error: Exception, status: int) -> None:
    assert exit_code(error) == status


def test_run_prints_no_tensorflow_start_up_lines(files, tmp_path, weights_path):
    """Found by a user: TensorFlow's oneDNN and absl lines came twice before every run."""
    output = tmp_path / "out.png"
    result = subprocess.run(
        [
            NST,
            "run",
            str(files["content"]),
            str(files["style"]),
            "-o",
            str(output),
            "--size",
            "32",
            "--iterations",
            "1",
            "--json",
        ],
        env={**os.environ, "NST_VGG19_WEIGHTS": weights_path},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "oneDNN" not in result.stderr and "absl" not in result.stderr, result.stderr
    assert json.loads(result.stdout)["output"] == str(output)
