"""``nst run``: stylize local files with the engine in this process, no service needed.

Parameters go through ``shared.params.parse_params`` (the same rules as the API) and images
through ``shared.images.read_image_file``, both before TensorFlow is imported, so bad input
fails fast with one line and exit status 2 and no output file is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shared.cli.exit_codes import reports_errors
from shared.errors import ImageError, InvalidParams
from shared.files import write_atomically
from shared.images import encode_png, read_image_file
from shared.params import JobParams, Limits, parse_params
from shared.settings import Settings, load_settings

if TYPE_CHECKING:
    from worker.nst import Checkpoint, TransferResult

STATE_FILE = "state.bin"
PARAM_OPTIONS = (
    "size", "iterations", "optimizer", "learning_rate", "content_weight", "style_weight",
    "tv_weight", "content_layers", "style_layers", "style_blend", "preserve_color", "init",
    "pooling", "style_scale", "scales", "seed", "checkpoint_every",
)  # fmt: skip


def _param_options(command: Any) -> Any:
    """Add one text option per job parameter; parse_params checks and converts them."""
    for name in reversed(PARAM_OPTIONS):
        field = JobParams.model_fields[name]
        default = field.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        help_text = (field.description or "") + ("" if default is None else f" [default: {shown}]")
        flag = "--" + name.replace("_", "-")
        command = click.option(flag, name, default=None, metavar="VALUE", help=help_text)(command)
    return command


@click.command("run")
@click.argument("content")
@click.argument("styles", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Where to write the PNG result.")
@click.option("--checkpoint-dir", default=None, help="Write previews and resumable state here.")
@click.option("--resume", is_flag=True, help="Continue from the state in --checkpoint-dir.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line with the result.")
@_param_options
@reports_errors
def run(
    content: str,
    styles: tuple[str, ...],
    output: str,
    checkpoint_dir: str | None,
    resume: bool,
    as_json: bool,
    **raw_params: str | None,
) -> None:
    """Stylize CONTENT with one or more STYLE images and write OUTPUT as PNG."""
    settings = load_settings()
    params = _parse(raw_params, len(styles), settings)
    content_image = read_image_file(content, settings.max_pixels)
    style_images = [read_image_file(path, settings.max_pixels) for path in styles]
    resume_from = _read_state(checkpoint_dir) if resume else None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from worker.nst import StyleTransfer

    engine = StyleTransfer(settings.vgg19_weights, jit_compile=settings.xla == "on")
    every = params.checkpoint_every or settings.checkpoint_every
    with _Progress(params.iterations, checkpoint_dir) as progress:
        result = engine.run(
            content_image, style_images, params,
            checkpoint_every=every, on_checkpoint=progress.update, resume_from=resume_from,
        )  # fmt: skip
    _write_atomically(Path(output), encode_png(result.image))
    if as_json:
        click.echo(json.dumps(_summary(result)))


def _parse(raw: dict[str, str | None], style_count: int, settings: Settings) -> JobParams:
    """Validate the given options with the deployment's limits."""
    limits = Limits(settings.max_size, settings.max_iterations, settings.max_style_images)
    params = parse_params({k: v for k, v in raw.items() if v is not None}, limits)
    params.check_style_count(style_count, limits)
    return params


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
    }


class _Progress:
    """A tqdm bar moved at each checkpoint; also writes previews and state to a folder."""

    def __init__(self, total: int, checkpoint_dir: str | None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="it", leave=False)
        self.folder = Path(checkpoint_dir) if checkpoint_dir else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    def update(self, checkpoint: Checkpoint) -> None:
        """Show the losses and save the preview and state of one checkpoint."""
        self.bar.n = checkpoint.iteration
        self.bar.set_postfix(
            content=f"{checkpoint.losses.content:.3g}", style=f"{checkpoint.losses.style:.3g}"
        )
        if self.folder is not None:
            preview = self.folder / f"checkpoint_{checkpoint.iteration:05d}.png"
            _write_atomically(preview, encode_png(checkpoint.image))
            _write_atomically(self.folder / STATE_FILE, checkpoint.state)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
