"""Optical flow between content frames, and what it tells: where each pixel came from and where that can be trusted.

The flow comes from OpenCV's DIS (Kroeger et al. 2016, preset medium), the
one part of the engine that is not torch: it is imported when first needed,
any OpenCV build will do, and the pack does not depend on one (README,
"Video"). Warping and the reliability mask are torch (`grid_sample`), so
they run on the run's device. The mask follows Ruder et al. 2016 after
Sundaram et al. 2010: a pixel is unreliable where the forward and backward
flows disagree (an occlusion), on a motion boundary, or where its source
lies outside the previous frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F

from .errors import NSTError

# Forward-backward check: occluded where |w~ + w^|^2 >= OCCLUSION_SHARE (|w~|^2 + |w^|^2) + OCCLUSION_PX2.
OCCLUSION_SHARE = 0.01
OCCLUSION_PX2 = 0.5
# Motion boundary: |grad u^|^2 + |grad v^|^2 > BOUNDARY_SHARE |w^|^2 + BOUNDARY_PX2.
BOUNDARY_SHARE = 0.01
BOUNDARY_PX2 = 0.002


class MissingOpenCV(NSTError):
    """Video needs OpenCV's optical flow and no OpenCV is installed."""


def require_opencv() -> ModuleType:
    """OpenCV, imported on first use; its absence is an error that says what to install."""
    try:
        import cv2
    except ImportError as error:
        raise MissingOpenCV(
            "video needs OpenCV for optical flow: pip install 'nst-nodes[video]' (or any opencv-python build "
            f"already in your environment); importing cv2 failed: {error}"
        ) from None
    return cv2


def _grey_uint8(frame: torch.Tensor) -> np.ndarray:
    """A frame [1, 3, H, W] in [0, 1] as the 8-bit greyscale DIS reads (ITU-R 601 luma)."""
    rgb = frame[0].detach().float().cpu().clamp(0, 1)
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return np.ascontiguousarray((luma * 255 + 0.5).to(torch.uint8).numpy())


def optical_flow(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dense flow [1, 2, H, W] (dx, dy in px) from `source` to `target`, two frames [1, 3, H, W] of one size.

    Pixel x of `source` shows what `target` shows at x + flow(x).
    """
    cv2 = require_opencv()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(_grey_uint8(source), _grey_uint8(target), None)
    return torch.from_numpy(np.ascontiguousarray(flow)).permute(2, 0, 1).unsqueeze(0).float()


def _grid(flow: torch.Tensor) -> torch.Tensor:
    """grid_sample's sampling grid [1, H, W, 2] in [-1, 1] for x + flow(x) (pixel centres, align_corners=True)."""
    height, width = flow.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=flow.dtype, device=flow.device),
        torch.arange(width, dtype=flow.dtype, device=flow.device),
        indexing="ij",
    )
    x = (xs + flow[:, 0]) * (2 / max(width - 1, 1)) - 1
    y = (ys + flow[:, 1]) * (2 / max(height - 1, 1)) - 1
    return torch.stack((x, y), dim=-1)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """`image` [B, C, H, W] sampled at x + flow(x) (bilinear; beyond the border, the border's value)."""
    grid = _grid(flow.to(image.device, image.dtype)).expand(image.shape[0], -1, -1, -1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _inside(flow: torch.Tensor) -> torch.Tensor:
    """[1, 1, H, W]: 1 where x + flow(x) lies within the frame."""
    height, width = flow.shape[-2:]
    grid = _grid(flow)
    inside = (grid[..., 0].abs() <= 1) & (grid[..., 1].abs() <= 1)
    if width == 1 or height == 1:
        inside = torch.ones_like(inside)
    return inside.unsqueeze(1).to(flow.dtype)


def _gradient_square(flow: torch.Tensor) -> torch.Tensor:
    """|grad u|^2 + |grad v|^2 per pixel [1, 1, H, W] (forward differences, 0 at the last row and column)."""
    dx = F.pad(flow[..., :, 1:] - flow[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(flow[..., 1:, :] - flow[..., :-1, :], (0, 0, 0, 1))
    return (dx.pow(2) + dy.pow(2)).sum(1, keepdim=True)


def reliability(backward: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """Mask [1, 1, H, W] in {0, 1} over the current frame: 1 where the warped previous frame can be trusted.

    backward: flow from the current frame to the previous one (w^);
    forward: flow from the previous frame to the current one (w~).
    """
    forward_here = warp(forward, backward)  # w~ at x + w^(x)
    mismatch = (forward_here + backward).pow(2).sum(1, keepdim=True)
    size = forward_here.pow(2).sum(1, keepdim=True) + backward.pow(2).sum(1, keepdim=True)
    consistent = mismatch < OCCLUSION_SHARE * size + OCCLUSION_PX2
    boundary = _gradient_square(backward) > BOUNDARY_SHARE * backward.pow(2).sum(1, keepdim=True) + BOUNDARY_PX2
    return (consistent & ~boundary).to(backward.dtype) * _inside(backward)


@dataclass
class Motion:
    """How the current frame relates to the previous one: the flow back to it and where that flow is reliable.

    flow: [1, 2, H, W] from the current frame to the previous one, so that
    warp(previous, flow) lines the previous frame up with the current one.
    mask: [1, 1, H, W] in {0, 1} (reliability). Both on the CPU.
    """

    flow: torch.Tensor
    mask: torch.Tensor

    @property
    def reliable_share(self) -> float:
        """The fraction of the frame the previous one reaches; low at a scene cut."""
        return float(self.mask.mean())


def motion_between(previous: torch.Tensor, current: torch.Tensor) -> Motion:
    """The Motion from `previous` to `current` (content frames [1, 3, H, W] of one size)."""
    backward = optical_flow(current, previous)
    forward = optical_flow(previous, current)
    return Motion(flow=backward, mask=reliability(backward, forward))


def warping_error(previous: torch.Tensor, current: torch.Tensor, motion: Motion) -> float:
    """Lai et al. 2018's warping error of one frame pair: the mean square of current - warp(previous) where reliable.

    previous, current: [1, 3, H, W] frames (stylised or content) at the
    motion's size. The flow and mask come from the content frames, so the
    stylised and the content frames are judged against the same motion.
    """
    aligned = warp(previous.float().cpu(), motion.flow)
    weight = motion.mask.sum() * current.shape[1]
    if float(weight) == 0:
        return 0.0
    return float(((current.float().cpu() - aligned).pow(2) * motion.mask).sum() / weight)
