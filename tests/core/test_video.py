"""core/video.py: a clip frame by frame, held to the previous result; restarts, resume, streaming, bad input."""

from __future__ import annotations

import statistics
import sys

import pytest
import torch

from nst_nodes.core.errors import InputError
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.video import DEFAULT_TEMPORAL_WEIGHT, Previous, VideoMetrics, VideoSettings, stylize_video

from helpers import photo, settings
from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from clips import pan_clip  # noqa: E402

HW = (48, 64)
FAST = dict(size=64, steps=12, content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"))


@pytest.fixture(scope="module")
def clip() -> list[torch.Tensor]:
    return pan_clip(photo("astronaut", 160), 5, HW, shift=(0.5, 1.5), mover=photo("chelsea", 64), mover_speed=3)


def _run(vgg_model, frames, style, video=None, **extra):
    run, loss = settings(**FAST)
    return list(stylize_video(vgg_model, frames, StyleSpec([style]), run, loss, video, **extra))


def test_a_stabilised_clip_flickers_less_than_frames_painted_alone(vgg_model, clip, small_images):
    style = small_images[1]
    alone = _run(vgg_model, clip, style, VideoSettings(stabilize=False))
    held = _run(vgg_model, clip, style)
    assert all(frame.restarted for frame in alone) and [frame.restarted for frame in held] == [True] + [False] * 4
    error = lambda frames: statistics.fmean(f.warping_error for f in frames[1:])  # noqa: E731
    assert error(held) < 0.5 * error(alone)
    assert held[0].warping_error is None and held[1].content_warping_error == alone[1].content_warping_error


def test_later_frames_take_a_third_of_the_steps_and_a_scene_cut_starts_afresh(vgg_model, clip, small_images):
    other = pan_clip(photo("coffee", 160), 2, HW)
    frames = _run(vgg_model, clip[:2] + other, small_images[1])
    assert [f.metrics.steps for f in frames] == [12, 4, 12, 4]
    assert [f.restarted for f in frames] == [True, False, True, False]
    assert frames[2].reliable_share < 0.5 and float(frames[2].mask.max()) == 0
    assert float(frames[1].mask.mean()) == pytest.approx(frames[1].reliable_share)


def test_resuming_after_a_frame_gives_the_frames_an_unbroken_run_gives(vgg_model, clip, small_images):
    style = small_images[1]
    whole = _run(vgg_model, clip, style)
    rest = _run(vgg_model, clip[3:], style, first_index=3, previous=Previous(content=clip[2], result=whole[2].image))
    assert [frame.index for frame in rest] == [3, 4] and not rest[0].restarted
    for resumed, unbroken in zip(rest, whole[3:]):
        assert torch.allclose(resumed.image, unbroken.image, atol=1e-6)


def test_frames_are_read_one_at_a_time(vgg_model, clip, small_images):
    read = []

    def frames():
        for index, frame in enumerate(clip[:3]):
            read.append(index)
            yield frame

    run, loss = settings(**FAST)
    results = stylize_video(vgg_model, frames(), StyleSpec([small_images[1]]), run, loss)
    next(results)
    assert read == [0]


def test_bad_clips_are_refused_naming_the_frame(vgg_model, clip, small_images):
    style = small_images[1]
    with pytest.raises(InputError, match="content: the clip has no frames"):
        _run(vgg_model, [], style)
    with pytest.raises(InputError, match=r"content 3: is 64x32 px but the clip's first frame is 64x48 px"):
        _run(vgg_model, clip[:2] + [torch.rand(1, 3, 32, 64)], style, VideoSettings(stabilize=False))
    with pytest.raises(InputError, match="strength map: 1 given, but the clip has a frame 2"):
        _run(vgg_model, clip[:2], style, strength_maps=[torch.ones(1, 1, *HW)])


@pytest.mark.parametrize(
    "fields, named",
    [({"temporal_weight": -1}, "temporal weight"), ({"temporal_weight": 1e5}, "temporal weight"),
     ({"later_steps": -2}, "later steps"), ({"scene_cut": 1.5}, "scene cut")],
)  # fmt: skip
def test_video_settings_refuse_bad_values_by_name(fields, named):
    with pytest.raises(InputError, match=named):
        VideoSettings(**fields)


def test_the_clips_metrics_give_the_ratio_to_the_content_frames(vgg_model, clip, small_images):
    metrics = VideoMetrics()
    for frame in _run(vgg_model, clip[:3], small_images[1]):
        metrics.add(frame)
    report = metrics.to_dict()
    pairs = report["per_frame"][1:]
    assert report["frames"] == 3 and report["restarts"] == 1 and report["params"]["video"]["temporal_weight"] == DEFAULT_TEMPORAL_WEIGHT
    expected = statistics.fmean(p["warping_error"] for p in pairs) / statistics.fmean(p["content_warping_error"] for p in pairs)
    assert report["warping_error_ratio"] == pytest.approx(expected)
