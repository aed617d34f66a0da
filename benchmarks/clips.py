"""Footage-like clips of known motion, made from real photos: what the video benchmark, the tests and the bundled sample clip use.

Each frame is sampled from a still (bilinear, torch) along a smooth camera
path: a pan with a slow zoom, and optionally a second photo's disc moving
across the scene, which covers and uncovers the background (occlusions, the
case the reliability mask is for). The true motion is known, so the
optical flow can be checked against it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _affine_grid(hw: tuple[int, int], centre: tuple[float, float], scale: float, source_hw: tuple[int, int]) -> torch.Tensor:
    """grid_sample's grid: the frame's pixels as points of the source, a window of `scale` x the frame around `centre`."""
    height, width = hw
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    source_x = centre[1] + (xs - (width - 1) / 2) * scale
    source_y = centre[0] + (ys - (height - 1) / 2) * scale
    grid_x = source_x * 2 / (source_hw[1] - 1) - 1
    grid_y = source_y * 2 / (source_hw[0] - 1) - 1
    return torch.stack((grid_x, grid_y), -1).unsqueeze(0)


def pan_clip(
    still: torch.Tensor,
    frames: int,
    hw: tuple[int, int],
    shift: tuple[float, float] = (0.6, 1.7),
    zoom: float = 0.004,
    mover: torch.Tensor | None = None,
    mover_speed: float = 4.0,
) -> list[torch.Tensor]:
    """`frames` frames [1, 3, H, W] of a camera over `still` ([1, 3, h, w], larger than hw).

    shift: the camera's motion per frame in frame pixels (dy, dx); zoom: its
    scale's change per frame. mover: a photo whose centred disc (a third of
    the frame's height) crosses the frame at mover_speed px per frame.
    """
    source_hw = tuple(still.shape[-2:])
    height, width = hw
    base = min(source_hw[0] / (height * 1.25), source_hw[1] / (width * 1.25))
    start = (source_hw[0] / 2 - shift[0] * base * frames / 2, source_hw[1] / 2 - shift[1] * base * frames / 2)
    clip = []
    for index in range(frames):
        scale = base * (1 - zoom * index)
        centre = (start[0] + shift[0] * base * index, start[1] + shift[1] * base * index)
        frame = F.grid_sample(still.float(), _affine_grid(hw, centre, scale, source_hw), mode="bilinear", align_corners=True)
        if mover is not None:
            frame = _with_disc(frame, mover, index, mover_speed)
        clip.append(frame.clamp(0, 1))
    return clip


def _with_disc(frame: torch.Tensor, mover: torch.Tensor, index: int, speed: float) -> torch.Tensor:
    """`frame` with a disc of `mover` pasted where it is at frame `index` (left to right, a third of the way down)."""
    height, width = frame.shape[-2:]
    radius = height / 6
    centre_y, centre_x = height / 3, radius + speed * index
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    grid = torch.stack(((xs - centre_x) / radius, (ys - centre_y) / radius), -1).unsqueeze(0)
    disc = F.grid_sample(mover.float(), grid, mode="bilinear", align_corners=True)
    inside = (((ys - centre_y) ** 2 + (xs - centre_x) ** 2) <= radius**2).float()
    return inside * disc + (1 - inside) * frame
