"""StyleTransfer.run: progress, resume, multi-style, colour, multi-scale and determinism."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from contract.errors import EngineFailure, JobCancelled
from contract.params import JobParams, parse_params
from worker.nst import images as img
from worker.nst.engine import StyleTransfer
from worker.nst.inputs import scale_plan
from worker.nst.optimizers.host_reference import LBFGS
from worker.nst.optimizers.loops import host_objective
from worker.nst.options import RunOptions
from worker.nst.results import Checkpoint, TransferResult


def _params(**overrides: Any) -> JobParams:
    return parse_params({"size": 64, "iterations": 3, "optimizer": "adam", **overrides})


def _run(
    engine: StyleTransfer, content: Image.Image, styles: list[Image.Image], **kw: Any
) -> TransferResult:
    return engine.run(content, styles, _params(**kw))


def _recording(
    engine: StyleTransfer,
    content: Image.Image,
    style: Image.Image,
    params: JobParams,
    every: int | None,
    resume_from: bytes | None = None,
) -> tuple[TransferResult, list[Checkpoint]]:
    checkpoints: list[Checkpoint] = []
    result = engine.run(
        content,
        [style],
        params,
        RunOptions(
            checkpoint_every=every, on_checkpoint=checkpoints.append, resume_from=resume_from
        ),
    )
    return result, checkpoints


def test_run_lowers_the_loss_and_checkpoints_every_n_and_at_the_end(engine, content, starry_night):
    params = _params(optimizer="lbfgs", iterations=7)
    result, checkpoints = _recording(engine, content, starry_night, params, every=3)
    assert [c.iteration for c in checkpoints] == [3, 6, 7]
    assert all(c.total == 7 for c in checkpoints)
    assert checkpoints[-1].losses.total < checkpoints[0].losses.total
    assert result.iterations == 7 and result.size == (64, 48)
    assert result.image.shape == (48, 64, 3) and result.image.dtype == np.uint8
    np.testing.assert_array_equal(checkpoints[-1].image, result.image)


def test_without_checkpoint_every_only_the_final_checkpoint_is_sent(engine, content, starry_night):
    _, checkpoints = _recording(engine, content, starry_night, _params(iterations=4), every=None)
    assert [c.iteration for c in checkpoints] == [4]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_resumed_run_matches_an_uninterrupted_run(engine, content, starry_night, optimizer):
    params = _params(optimizer=optimizer, iterations=6, scales=2)
    full, checkpoints = _recording(engine, content, starry_night, params, every=2)
    resumed, later = _recording(
        engine, content, starry_night, params, every=2, resume_from=checkpoints[0].state
    )
    assert [c.iteration for c in later] == [4, 6]
    assert resumed.iterations == full.iterations == 6
    assert np.abs(resumed.image.astype(int) - full.image.astype(int)).max() <= 1
    assert resumed.losses.total == pytest.approx(full.losses.total, rel=1e-4)


def test_exception_from_on_checkpoint_propagates_unchanged(engine, content, starry_night):
    cancel = JobCancelled("cancelled by owner")

    def on_checkpoint(checkpoint: Checkpoint) -> None:
        raise cancel

    with pytest.raises(JobCancelled) as caught:
        engine.run(
            content,
            [starry_night],
            _params(),
            RunOptions(checkpoint_every=1, on_checkpoint=on_checkpoint),
        )
    assert caught.value is cancel


def test_state_from_a_different_job_is_refused(engine, content, starry_night):
    _, checkpoints = _recording(engine, content, starry_night, _params(iterations=1), every=1)
    with pytest.raises(EngineFailure, match="different parameters"):
        engine.run(
            content,
            [starry_night],
            _params(iterations=2),
            RunOptions(resume_from=checkpoints[0].state),
        )


def test_style_blend_selects_and_mixes_style_images(engine, content, starry_night, the_scream):
    single = _run(engine, content, [starry_night])
    first = _run(engine, content, [starry_night, the_scream], style_blend=(1, 0))
    second = _run(engine, content, [starry_night, the_scream], style_blend=(0, 1))
    np.testing.assert_array_equal(first.image, single.image)
    assert np.abs(first.image.astype(int) - second.image.astype(int)).mean() > 1


def _chroma_error(result: np.ndarray, content: Image.Image) -> float:
    reference = img.to_rgb_array(img.resize_long_side(content, 64))
    return float(
        np.abs(img.rgb_to_yiq(result)[..., 1:] - img.rgb_to_yiq(reference)[..., 1:]).mean()
    )


def test_luminance_transfer_keeps_the_content_colours(engine, content, starry_night):
    plain = _run(engine, content, [starry_night], iterations=4, learning_rate=10)
    kept = _run(
        engine, content, [starry_night], iterations=4, learning_rate=10, preserve_color="luminance"
    )
    assert _chroma_error(kept.image, content) < 1.5
    assert _chroma_error(plain.image, content) > 2 * _chroma_error(kept.image, content)


def test_histogram_colour_matching_changes_the_result(engine, content, starry_night):
    plain = _run(engine, content, [starry_night])
    matched = _run(engine, content, [starry_night], preserve_color="histogram")
    assert np.abs(plain.image.astype(int) - matched.image.astype(int)).mean() > 0.5


def test_scale_plan_goes_coarse_to_fine_and_sums_to_iterations():
    plan = scale_plan(_params(size=64, iterations=7, scales=3))
    assert [(p.size, p.iterations) for p in plan] == [(16, 2), (32, 2), (64, 3)]


def test_multi_scale_run_takes_the_total_iterations_coarse_to_fine(engine, content, starry_night):
    params = _params(size=128, iterations=5, scales=3)  # the painting is 96 x 60: 1.6 to 1
    result, checkpoints = _recording(engine, content, starry_night, params, every=1)
    assert [c.iteration for c in checkpoints] == [1, 2, 3, 4, 5]
    assert [c.image.shape[:2] for c in checkpoints] == [(24, 32)] + [(48, 64)] * 2 + [(96, 128)] * 2
    assert result.iterations == 5 and result.size == (128, 96)


def test_same_seed_gives_the_same_output(engine, content, starry_night):
    first = _run(engine, content, [starry_night], init="noise", seed=11)
    again = _run(engine, content, [starry_night], init="noise", seed=11)
    other = _run(engine, content, [starry_night], init="noise", seed=12)
    np.testing.assert_array_equal(first.image, again.image)
    assert not np.array_equal(first.image, other.image)


@pytest.mark.parametrize(
    "change", [{"pooling": "avg"}, {"style_scale": 0.5}, {"init": "style"}, {"tv_weight": 1e3}]
)
def test_each_option_changes_the_output(engine, content, starry_night, change):
    plain = _run(engine, content, [starry_night])
    changed = _run(engine, content, [starry_night], **change)
    assert np.abs(plain.image.astype(int) - changed.image.astype(int)).mean() > 0.5


def test_non_finite_loss_stops_the_run_with_engine_failure():
    def exploding_step(x: np.ndarray, targets: Any) -> tuple[float, np.ndarray, np.ndarray]:
        return float("nan"), np.zeros(3), np.zeros_like(x)

    objective = host_objective(exploding_step, ())
    with pytest.raises(EngineFailure, match="non-finite"):
        LBFGS().step(np.zeros((1, 4, 4, 3), np.float32), objective)


def test_score_matches_the_loss_the_run_reports(engine, content, starry_night):
    result = _run(engine, content, [starry_night])
    scored = engine.score(content, [starry_night], _params(), result.image)
    # the run scores its float image, score() the 8-bit one: close, not identical
    assert scored.total == pytest.approx(result.losses.total, rel=0.02)


def test_result_counts_loss_evaluations(engine, content, starry_night):
    adam = _run(engine, content, [starry_night], iterations=3)
    lbfgs = _run(engine, content, [starry_night], iterations=3, optimizer="lbfgs")
    assert adam.evaluations == 3 + 1  # one per step, and the final scoring
    assert lbfgs.evaluations >= 1 + 3  # the start point, >= 1 try per step; its loss is known


def test_compiled_steps_are_bounded_least_recently_used_first(
    engine, weights_path, content, starry_night
):
    """Every new image shape compiles a step; beyond the bound the oldest is dropped (memory)."""
    bounded = StyleTransfer(weights_path, max_compiled_steps=2)
    for size in (32, 40, 48, 32):
        bounded.run(content, [starry_night], _params(size=size, iterations=1))
        assert bounded.compiled_steps <= 2
    assert bounded.compiled_steps == 2
    again = bounded.run(content, [starry_night], _params(size=48, iterations=1))
    reference = engine.run(content, [starry_night], _params(size=48, iterations=1))
    np.testing.assert_array_equal(again.image, reference.image)  # a dropped step, recompiled


def test_early_stop_ends_a_run_on_a_plateau_after_the_first_progress_update(
    engine, content, starry_night
):
    params = _params(iterations=200, optimizer="lbfgs", early_stop=0.05, size=32)
    result, checkpoints = _recording(engine, content, starry_night, params, every=30)
    assert result.stopped_early and result.iterations < 200
    assert result.iterations + result.iterations_saved == 200
    assert checkpoints[-1].stopped_early and checkpoints[-1].iteration == result.iterations
    assert checkpoints[0].iteration == 30  # the first progress update came before the stop


def test_early_stop_waits_for_the_first_progress_update(engine, content, starry_night):
    """A plateau before the first update is not acted on: the user sees progress first."""
    params = _params(iterations=60, optimizer="lbfgs", early_stop=0.5, size=32)  # a plateau at once
    result, checkpoints = _recording(engine, content, starry_night, params, every=40)
    assert checkpoints[0].iteration == 40 and not checkpoints[0].stopped_early
    assert result.stopped_early and result.iterations == 41


def test_without_early_stop_every_iteration_runs(engine, content, starry_night):
    params = _params(iterations=30, optimizer="lbfgs", early_stop=0, size=32)
    result, _ = _recording(engine, content, starry_night, params, every=10)
    assert not result.stopped_early and result.iterations == 30


def test_resumed_run_stops_early_exactly_where_an_uninterrupted_one_does(
    engine, content, starry_night
):
    params = _params(iterations=200, optimizer="lbfgs", early_stop=0.05, size=32)
    whole, checkpoints = _recording(engine, content, starry_night, params, every=10)
    assert whole.stopped_early
    middle = next(c for c in checkpoints if c.iteration == 20)
    resumed, _ = _recording(
        engine, content, starry_night, params, every=10, resume_from=middle.state
    )
    assert resumed.iterations == whole.iterations
    np.testing.assert_array_equal(resumed.image, whole.image)


def test_nearby_shapes_share_a_step_in_one_bucket_and_come_back_at_their_own_size(
    weights_path, content
):
    """96 x 60 and 96 x 62 both pad to 96 x 64: one compiled step, two exact outputs."""
    engine = StyleTransfer(weights_path, shape_bucket=32)
    style = content.resize((80, 80))
    first = engine.run(content.resize((96, 60)), [style], _params(size=96, iterations=2))
    second = engine.run(content.resize((96, 62)), [style], _params(size=96, iterations=2))
    assert engine.compiled_steps == 1
    assert first.size == (96, 60) and second.size == (96, 62)
    exact = StyleTransfer(weights_path).run(
        content.resize((96, 60)), [style], _params(size=96, iterations=2)
    )
    difference = np.abs(first.image.astype(float) - exact.image.astype(float)).mean()
    assert difference < 5.0  # padding changes the picture by a few levels of 255, not more


def test_a_bucketed_multi_scale_run_resumes_exactly(weights_path, content, starry_night):
    engine = StyleTransfer(weights_path, shape_bucket=32)
    params = _params(size=128, iterations=6, scales=2, optimizer="lbfgs")
    whole, checkpoints = _recording(engine, content, starry_night, params, every=1)
    middle = next(c for c in checkpoints if c.iteration == 4)  # in the second, padded pass
    resumed, _ = _recording(
        engine, content, starry_night, params, every=1, resume_from=middle.state
    )
    np.testing.assert_array_equal(resumed.image, whole.image)
    assert whole.size == (128, 96)


def test_warm_up_compiles_the_default_step_for_a_size(weights_path, content, starry_night):
    engine = StyleTransfer(weights_path, shape_bucket=32)
    assert engine.warm_up(64, 48) > 0 and engine.compiled_steps == 1
    result = engine.run(content, [starry_night], JobParams(size=64, iterations=1))
    assert engine.compiled_steps == 1 and result.compile_seconds == 0.0
