"""The memory check before a job: every image the job holds counts, the style images too."""

from __future__ import annotations

import pytest
from PIL import Image

from contract.errors import InsufficientMemory
from contract.params import parse_params
from worker.nst.engine import StyleTransfer
from worker.nst.memory import STYLE_MIB_PER_PIXEL, needed_mib
from worker.nst.options import RunOptions
from worker.nst.results import Checkpoint


def test_the_estimate_counts_the_largest_style_image_at_its_resized_size() -> None:
    """Issue 21: 512 px with style_scale 4 passed a 1.5 GB estimate and peaked 5.3 GB above it;
    a 2048 x 1536 style image alone grew the process by 4,096 MiB (CPU, measured)."""
    content_only = needed_mib(512 * 384, on_gpu=False)
    with_style = needed_mib(512 * 384, on_gpu=False, style_pixels=2048 * 1536)
    assert content_only < 1500 < 4096 < with_style - content_only
    on_gpu = needed_mib(512 * 384, on_gpu=True, style_pixels=2048 * 1536)
    assert on_gpu - needed_mib(512 * 384, on_gpu=True) > 2048 * 1536 * STYLE_MIB_PER_PIXEL


def test_a_job_whose_style_images_cannot_fit_fails_before_it_starts(
    engine: StyleTransfer, content: Image.Image, starry_night: Image.Image
) -> None:
    """32 px content fits a 15 MiB budget; its style resized to 4 x 32 = 128 px does not."""
    checkpoints: list[Checkpoint] = []
    large_style = parse_params({"size": 32, "iterations": 2, "style_scale": 4})
    with pytest.raises(InsufficientMemory, match="smaller size or style_scale"):
        engine.run(
            content,
            [starry_night],
            large_style,
            RunOptions(memory_limit_mib=15, on_checkpoint=checkpoints.append),
        )
    assert checkpoints == []  # nothing ran
    same_size = parse_params({"size": 32, "iterations": 2, "style_scale": 1, "early_stop": 0})
    result = engine.run(content, [starry_night], same_size, RunOptions(memory_limit_mib=15))
    assert result.iterations == 2
