"""Stylize Video (nodes/video.py), called as ComfyUI calls it: a clip's three outputs, per-frame masks, progress, Cancel.

As in test_optimize.py, `execute` runs under torch.inference_mode with
ComfyUI 0.3.75's source on sys.path and no server; the frames are a small
camera pan over a smooth random picture, so the optical flow finds motion.
"""

from __future__ import annotations

import json

import pytest
import torch

from nst_nodes.core.errors import InputError

from helpers import comfy_image, comfy_mask, loss_config, plain_style

HEIGHT, WIDTH = 48, 64


def pan(frames: int = 4, step: int = 2, seed: int = 3) -> torch.Tensor:
    """An IMAGE batch of `frames` 48 x 64 windows sliding `step` px right each frame over one smooth picture."""
    scene = torch.rand(1, 3, HEIGHT + 8, WIDTH + step * frames + 8, generator=torch.Generator().manual_seed(seed))
    scene = torch.nn.functional.avg_pool2d(scene, 5, 1, 2)
    windows = [scene[..., 4 : 4 + HEIGHT, 4 + step * index : 4 + step * index + WIDTH] for index in range(frames)]
    return comfy_image(torch.cat(windows))


def run_video(comfy, vgg_model, frames, style, **kwargs):
    """Stylize Video's outputs for a 4-step run at 64 px (later frames 1 step) on VGG's first layers, under inference mode."""
    inputs = {
        "vgg": vgg_model, "frames": frames, "style": style, "steps": 4, "optimizer": "adam", "learning_rate": 0.0,
        "size": WIDTH, "init": "content", "preserve_color": "none", "seed": 0, "preview_interval": 1, "dtype": "auto",
        "scales": "auto", "temporal_weight": 10.0, "later_steps": 0, "scene_cut": 0.5, "stabilize": True,
        "loss": loss_config(comfy, content_layers="relu2_1", style_layers="relu1_1, relu2_1"), **kwargs,
    }  # fmt: skip
    with torch.inference_mode():  # as ComfyUI runs every node
        return comfy.video.StylizeVideo.execute(**inputs)


def test_stylize_video_gives_frames_reliability_masks_and_clip_metrics(comfy, vgg_model, progress_events):
    frames = pan()
    before = frames.clone()
    images, masks, metrics = run_video(comfy, vgg_model, frames, plain_style())
    assert images.shape == (4, HEIGHT, WIDTH, 3) and images.device.type == "cpu"
    assert masks.shape == (4, HEIGHT, WIDTH) and 0 <= float(masks.min()) and float(masks.max()) <= 1
    assert torch.equal(frames, before)  # ComfyUI's tensor untouched
    data = json.loads(metrics)
    assert data["frames"] == 4 and data["restarts"] == 1
    assert [frame["index"] for frame in data["per_frame"]] == [0, 1, 2, 3]
    assert [frame["steps"] for frame in data["per_frame"]] == [4, 1, 1, 1]  # later frames: a third of steps
    assert [frame["restarted"] for frame in data["per_frame"]] == [True, False, False, False]
    assert float(masks[0].max()) == 0  # the first frame trusted nothing before it
    for frame, mask in zip(data["per_frame"][1:], masks[1:]):
        assert frame["reliable_share"] == pytest.approx(float(mask.mean()), abs=1e-6) and frame["reliable_share"] > 0.5
        assert frame["warping_error"] is not None and frame["content_warping_error"] is not None
    assert data["params"]["video"] == {"temporal_weight": 10.0, "later_steps": 0, "scene_cut": 0.5, "stabilize": True}
    assert data["params"]["size"] == WIDTH


def test_progress_is_one_bar_over_every_frames_steps_with_previews(comfy, vgg_model, progress_events):
    run_video(comfy, vgg_model, pan(), plain_style(), later_steps=2)
    assert [event[:2] for event in progress_events] == [(value, 10) for value in range(1, 11)]  # 4 + 3 x 2
    for _, _, preview in progress_events:
        kind, picture, _ = preview
        assert kind == "JPEG" and picture.size == (WIDTH, HEIGHT)


def test_progress_grows_when_a_frame_starts_afresh(comfy, vgg_model, progress_events):
    """scene_cut 1: every frame is a cut and takes the full steps; the bar's total grows frame by frame."""
    _, masks, metrics = run_video(comfy, vgg_model, pan(frames=3), plain_style(), scene_cut=1.0, preview_interval=0)
    assert [frame["restarted"] for frame in json.loads(metrics)["per_frame"]] == [True, True, True]
    assert float(masks.max()) == 0
    values = [value for value, _, _ in progress_events]
    assert values == list(range(1, 13)) and progress_events[-1][:2] == (12, 12)
    assert all(preview is None for _, _, preview in progress_events)


def test_stabilize_off_paints_every_frame_alone_with_the_full_steps(comfy, vgg_model, progress_events):
    _, _, metrics = run_video(comfy, vgg_model, pan(frames=3), plain_style(), stabilize=False, preview_interval=0)
    data = json.loads(metrics)
    assert [frame["steps"] for frame in data["per_frame"]] == [4, 4, 4] and data["restarts"] == 3
    assert {total for _, total, _ in progress_events} == {12}  # known from the start


def test_strength_map_is_one_for_every_frame_or_one_per_frame(comfy, vgg_model, monkeypatch, progress_events):
    calls = []
    real = comfy.video.stylize_video

    def recording(*args, **kwargs):
        calls.append(kwargs["strength_maps"])
        return real(*args, **kwargs)

    monkeypatch.setattr(comfy.video, "stylize_video", recording)
    maps = comfy_mask(torch.stack([torch.full((8, 8), value) for value in (0.25, 0.5, 0.75)]))
    run_video(comfy, vgg_model, pan(frames=3), plain_style(), steps=1, strength_map=maps)
    run_video(comfy, vgg_model, pan(frames=3), plain_style(), steps=1, strength_map=maps[1:2])
    run_video(comfy, vgg_model, pan(frames=3), plain_style(), steps=1)
    per_frame, one, none = calls
    assert [float(m.mean()) for m in per_frame] == [0.25, 0.5, 0.75] and all(m.shape == (1, 1, 8, 8) for m in per_frame)
    assert [float(m.mean()) for m in one] == [0.5, 0.5, 0.5]
    assert list(none) == [None, None, None]


def test_a_black_strength_map_keeps_the_frames(comfy, vgg_model, progress_events):
    """No style anywhere: the first frame stays its content exactly; the later ones, which start from the
    warped previous result (near, not equal to, their frame), stay far nearer their frames than a styled run."""
    frames = pan(frames=3)
    kept, _, _ = run_video(comfy, vgg_model, frames, plain_style(), strength_map=comfy_mask(torch.zeros(1, 16, 16)))
    styled, _, _ = run_video(comfy, vgg_model, frames, plain_style())
    assert torch.allclose(kept[0], frames[0], atol=1e-6)
    drift, styling = ((images - frames)[1:].abs().mean() for images in (kept, styled))
    assert drift < styling / 2, (drift, styling)


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"temporal_weight": -1.0}, r"^temporal_weight: -1.0 must be a finite number >= 0"),
        ({"later_steps": -2}, r"^later_steps: -2 is out of range"),
        ({"scene_cut": 1.5}, r"^scene_cut: 1.5 is outside \[0, 1\]"),
        ({"steps": 0}, r"^steps: 0 is out of range"),
        ({"size": 8}, r"^size: 8 px is out of range"),
        ({"learning_rate": -1.0}, r"^learning_rate: -1.0 must be a positive finite number"),
        ({"loss": "nonsense"}, r"^loss: connect the output of Content/Style Loss"),
        ({"strength_map": "three"}, r"^strength_map: a batch of 3 masks for 4 frames; give one mask or exactly one per frame"),
        ({"strength_map": "negative"}, r"^strength_map: mask values must lie in \[0, 1\]"),
        ({"frames": "empty"}, r"^frames: the clip has no frames"),
        ({"frames": "flat"}, r"^frames: expected an IMAGE batch \[B, H, W, C\]"),
    ],
)
def test_bad_values_are_refused_by_input_name(comfy, vgg_model, inputs, message):
    special = {
        "three": comfy_mask(torch.rand(3, 16, 16)), "negative": comfy_mask(torch.full((1, 16, 16), -0.5)),
        "empty": torch.zeros(0, HEIGHT, WIDTH, 3), "flat": torch.zeros(HEIGHT, WIDTH, 3),
    }  # fmt: skip
    inputs = {name: special.get(value, value) if isinstance(value, str) else value for name, value in inputs.items()}
    with pytest.raises(InputError, match=message):
        run_video(comfy, vgg_model, inputs.pop("frames", pan()), plain_style(), **inputs)


def test_cancel_stops_within_a_frame_with_comfyuis_interrupt(comfy, vgg_model, progress_events):
    """Cancel pressed during the second frame's first step: ComfyUI's own exception, raised before the next step."""
    seen = []

    def hook(value, total, preview, prompt_id=None, node_id=None):
        seen.append(value)
        if value == 5:  # the second frame's first step (the first frame takes 4)
            comfy.mm.interrupt_current_processing(True)

    comfy.utils.set_progress_bar_global_hook(hook)
    with pytest.raises(comfy.mm.InterruptProcessingException):
        run_video(comfy, vgg_model, pan(), plain_style(), later_steps=50, preview_interval=0)
    assert seen == [1, 2, 3, 4, 5]  # no second step of that frame, no later frame
    assert not comfy.mm.processing_interrupted()  # the flag is consumed, the next prompt runs
