"""core/flow.py: DIS flow against known motion, the reliability mask at occlusions, warping, the warping error."""

from __future__ import annotations

import sys

import pytest
import torch

from nst_nodes.core import flow
from nst_nodes.core.flow import MissingOpenCV, motion_between, optical_flow, reliability, warp, warping_error

from helpers import photo
from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from clips import pan_clip  # noqa: E402

HW = (96, 128)
MARGIN = 8


@pytest.fixture(scope="module")
def background() -> torch.Tensor:
    return photo("astronaut", 256)


def _disc(index: int, speed: float) -> torch.Tensor:
    """Where clips.pan_clip's mover covers frame `index` ([H, W] booleans)."""
    height, width = HW
    ys, xs = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    radius = height / 6
    return (ys - height / 3) ** 2 + (xs - radius - speed * index) ** 2 <= radius**2


def test_the_flow_of_a_pan_is_the_cameras_motion_to_half_a_pixel(background):
    shift = (0.6, 1.7)  # (dy, dx) per frame: frame t shows at x what frame t-1 shows at x + shift
    previous, current = pan_clip(background, 2, HW, shift=shift, zoom=0)
    found = optical_flow(current, previous)[0, :, MARGIN:-MARGIN, MARGIN:-MARGIN]
    error = ((found[0] - shift[1]) ** 2 + (found[1] - shift[0]) ** 2).sqrt()
    assert float(error.mean()) < 0.5
    assert motion_between(previous, current).reliable_share > 0.9


def test_the_mask_marks_what_a_moving_disc_uncovers(background):
    speed = 5.0
    clip = pan_clip(background, 4, HW, shift=(0, 0), zoom=0, mover=photo("chelsea", 128), mover_speed=speed)
    recalls = []
    for index in range(1, len(clip)):
        mask = motion_between(clip[index - 1], clip[index]).mask[0, 0]
        uncovered = _disc(index - 1, speed) & ~_disc(index, speed)  # not to be seen in the previous frame
        recalls.append(float((mask[uncovered] == 0).float().mean()))
        still = ~_disc(index - 1, speed) & ~_disc(index, speed)
        assert float(mask[still].mean()) > 0.8  # the static background stays reliable
    assert min(recalls) >= 0.7


def test_the_mask_refuses_sources_outside_the_frame_and_disagreeing_flows():
    height, width = 8, 10
    backward = torch.zeros(1, 2, height, width)
    backward[:, 0] = 3.0  # every pixel comes from 3 px to its right
    forward = -backward
    mask = reliability(backward, forward)[0, 0]
    assert bool((mask[:, : width - 3] == 1).all()) and bool((mask[:, width - 2 :] == 0).all())
    assert float(reliability(backward, backward).sum()) == 0  # forward = backward: they disagree everywhere


def test_warp_lines_the_previous_frame_up_with_the_current(background):
    previous, current = pan_clip(background, 2, HW, shift=(1.0, 2.0), zoom=0)
    constant = torch.zeros(1, 2, *HW)
    constant[:, 0], constant[:, 1] = 2.0, 1.0
    aligned = warp(previous, constant)
    inner = (..., slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    assert float((aligned - current)[inner].abs().max()) < 1e-4
    assert torch.allclose(warp(previous, torch.zeros(1, 2, *HW)), previous, atol=1e-4)


def test_the_warping_error_tells_a_stable_texture_from_a_flickering_one_by_100x(background):
    clip = pan_clip(background, 4, HW, shift=(1.0, 2.0), zoom=0)  # whole pixels: resampling blurs nothing
    generator = torch.Generator().manual_seed(0)
    flicker = [(frame + 0.2 * (torch.rand(frame.shape, generator=generator) - 0.5)).clamp(0, 1) for frame in clip]
    stable, flickering = [], []
    for index in range(1, len(clip)):
        motion = motion_between(clip[index - 1], clip[index])
        stable.append(warping_error(clip[index - 1], clip[index], motion))
        flickering.append(warping_error(flicker[index - 1], flicker[index], motion))
    assert sum(flickering) > 100 * sum(stable)


def test_no_opencv_is_an_error_that_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    frame = torch.rand(1, 3, 16, 16)
    with pytest.raises(MissingOpenCV, match=r"pip install 'nst-nodes\[video\]'"):
        flow.optical_flow(frame, frame)
