"""``nst run``: stylize local files with the engine in this process, no service needed.

Parameters go through ``contract.params.parse_params`` (the same schema and limits as the API),
images through ``shared.images.read_image_file`` and the output path is checked, all before
TensorFlow is imported, so bad input fails fast with one line and exit status 2 and no output
file is written. The engine, Pillow and the settings are imported inside the command: ``nst``
with only the client installed still starts, and says what ``nst run`` needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.errors import exit_status_help, reports_errors
from cli.options import given, param_options
from contract.errors import ConfigError, ImageError, InvalidParams
from contract.files import write_atomically

if TYPE_CHECKING:
    from worker.nst.engine import StyleTransfer
    from worker.nst.results import Checkpoint, TransferResult

STATE_FILE = "state.bin"
ENGINE_MISSING = (
    "nst run needs the engine, which is not installed: pip install 'nst-service[engine]' "
    "(or submit the job to a service with nst submit)"
)


@click.command(
    "run",
    short_help="Stylize local files on this machine (no service).",
    epilog="\b\nExamples:\n  nst run photo.jpg starry.jpg -o out.png --size 256\n"
    "  nst run photo.jpg a.jpg b.jpg -o out.png --json   # one JSON line\n\n" + exit_status_help(),
)
@click.argument("content")
@click.argument("styles", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Where to write the PNG result.")
@click.option("--checkpoint-dir", default=None, help="Write previews and resumable state here.")
@click.option("--resume", is_flag=True, help="Continue from the state in --checkpoint-dir.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line with the result.")
@click.option(
    "--precision",
    type=click.Choice(["auto", "float32", "bfloat16"]),
    default=None,
    help="What VGG19's convolutions run in (default: NST_PRECISION, else float32); auto times "
    "both first and takes bfloat16 only if clearly faster. Same picture within 2 %.",
)
@param_options
@reports_errors
def run(
    content: str,
    styles: tuple[str, ...],
    output: str,
    checkpoint_dir: str | None,
    resume: bool,
    as_json: bool,
    precision: str | None,
    **raw_params: Any,
) -> None:
    """Stylize CONTENT with one or more STYLE images and write OUTPUT as PNG."""
    try:
        from contract.params import parse_params
        from shared.images import check_working_sizes, encode_png, read_image_file
        from shared.settings import load_settings
        from worker.nst.options import RunOptions
    except ImportError:
        raise ConfigError(ENGINE_MISSING) from None
    settings = load_settings()
    params = parse_params(given(raw_params), settings.limits, style_count=len(styles))
    target = _checked_output(Path(output))
    content_image = read_image_file(content, settings.max_pixels)
    style_images = [read_image_file(path, settings.max_pixels) for path in styles]
    check_working_sizes(params, content_image.size, [image.size for image in style_images])
    resume_from = _read_state(checkpoint_dir) if resume else None
    engine = _engine(settings.vgg19_weights, settings.xla == "on", precision or settings.precision)
    if engine.precision_choice.setting == "auto":
        click.echo(engine.precision_choice.describe(), err=True)
    with _Progress(params.iterations, checkpoint_dir) as progress:
        options = RunOptions(
            checkpoint_every=settings.checkpoint_interval(params),
            progress_seconds=settings.progress_seconds,
            checkpoint_seconds=settings.checkpoint_seconds,
            on_checkpoint=progress.update,
            resume_from=resume_from,
        )
        result = engine.run(content_image, style_images, params, options)
    _write_atomically(target, encode_png(result.image))
    click.echo(f"saved {target}", err=True)
    if as_json:
        click.echo(json.dumps({"output": str(target), **_summary(result)}))


def _checked_output(path: Path) -> Path:
    """Refuse an output that cannot be written before minutes of optimization, not after."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InvalidParams(f"-o {path} is a directory; give a file name", field="output")
    if not folder.is_dir():
        raise InvalidParams(f"-o {path}: the folder {folder} does not exist", field="output")
    if not os.access(folder, os.W_OK):
        raise InvalidParams(f"-o {path}: the folder {folder} is not writable", field="output")
    return path


def _engine(weights: str, xla: bool, precision: str) -> StyleTransfer:
    """Import and build the engine with TensorFlow's and absl's start-up noise turned down."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    try:
        with _native_stderr_silenced():
            from worker.nst.engine import StyleTransfer
            from worker.weights import check_weights
    except ImportError:
        raise ConfigError(ENGINE_MISSING) from None
    check_weights(weights)  # offline, says to set NST_VGG19_WEIGHTS; never a half download
    return StyleTransfer(weights, jit_compile=xla, precision=precision)  # type: ignore[arg-type]


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hide what TensorFlow's native libraries write to file descriptor 2 while they load.

    Each of its two libraries logs "oneDNN custom operations are on" (with absl's warning)
    before absl logging is set up, which TF_CPP_MIN_LOG_LEVEL does not reach: four lines
    before every run. A Python error still raises, and is shown, after the import.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _read_state(checkpoint_dir: str | None) -> bytes:
    """Read the resumable state that a previous run left in the checkpoint folder."""
    if checkpoint_dir is None:
        raise InvalidParams("--resume needs --checkpoint-dir", field="resume")
    path = Path(checkpoint_dir) / STATE_FILE
    if not path.is_file():
        raise InvalidParams(f"--resume: no checkpoint state at {path}", field="resume")
    return path.read_bytes()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write the file whole or not at all; a failure is the user's ImageError, one line."""
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise ImageError(f"cannot write {path}: {exc.strerror}") from None


def _summary(result: TransferResult) -> dict[str, Any]:
    """The ``--json`` line: timing, final losses and output size."""
    return {
        "iterations": result.iterations,
        "seconds": round(result.seconds, 3),
        "seconds_per_iteration": round(result.seconds / max(result.iterations, 1), 4),
        "content_loss": result.losses.content,
        "style_loss": result.losses.style,
        "total_loss": result.losses.total,
        "size": list(result.size),
        "precision": result.precision,
    }


class _Progress:
    """A tqdm bar moved at each checkpoint; also writes previews and state to a folder."""

    def __init__(self, total: int, checkpoint_dir: str | None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="it", leave=False)
        self.folder = Path(checkpoint_dir) if checkpoint_dir else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    def update(self, checkpoint: Checkpoint) -> bool:
        """Show the losses; at a state save, write its preview and state to the folder."""
        from shared.images import encode_png

        self.bar.n = checkpoint.iteration
        self.bar.set_postfix(
            content=f"{checkpoint.losses.content:.3g}", style=f"{checkpoint.losses.style:.3g}"
        )
        if self.folder is not None and checkpoint.state is not None:
            preview = self.folder / f"checkpoint_{checkpoint.iteration:05d}.png"
            _write_atomically(preview, encode_png(checkpoint.image))
            _write_atomically(self.folder / STATE_FILE, checkpoint.state)
        return False

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
