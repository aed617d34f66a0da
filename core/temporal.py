"""The temporal term of a video frame's loss: stay close to the previous result, warped, where the flow is reliable.

Ruder et al. 2016's short-term loss: weight * sum_x c(x) (x_t - warp(X_{t-1}))^2 / sum_x c(x),
with the squares averaged over the colour channels, so that the term is a
mean square over the reliable pixels like the other terms' relative errors.
It wraps any objective (whole or tiled): the term is per pixel, so it is
taken on the whole image whatever the tiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .geometry import resize, resize_mask
from .objective import Objective
from .tiling import TiledObjective


@dataclass(frozen=True)
class TemporalTarget:
    """What frame t is held to: the previous result warped onto it ([1, 3, H, W]), the reliability mask ([1, 1, H, W]) and the weight."""

    image: torch.Tensor
    mask: torch.Tensor
    weight: float

    def at(self, hw: tuple[int, int], device: torch.device) -> "TemporalTarget":
        """The same target for images of `hw` (a scale of the ladder), on `device`.

        Fresh copies, so that targets made under inference mode (ComfyUI)
        can take part in the autograd of a run (called within it).
        """
        return TemporalTarget(
            image=resize(self.image.float(), hw).to(device).clone(),
            mask=resize_mask(self.mask.float(), hw).to(device).clone(),
            weight=self.weight,
        )


@dataclass
class TemporalObjective:
    """`inner`'s loss plus the temporal term; its terms gain "temporal", which "total" includes."""

    inner: Objective | TiledObjective
    target: TemporalTarget

    def term(self, image: torch.Tensor) -> torch.Tensor:
        """The weighted temporal term [B]; 0 where nothing is reliable."""
        mask = self.target.mask
        squares = (image.float() - self.target.image).pow(2).mean(1, keepdim=True) * mask
        return self.target.weight * squares.flatten(1).sum(1) / mask.sum().clamp_min(1.0)

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = dict(self.inner(image))
        temporal = self.term(image)
        return {**terms, "temporal": temporal, "total": terms["total"] + temporal}

    def backward(self, image: torch.Tensor, scale_for: Callable[[torch.Tensor], torch.Tensor | float]) -> dict[str, torch.Tensor]:
        """Objective.backward's contract: the inner terms' gradient first (tiled or not), then the temporal term's."""
        terms = self.inner.backward(image, scale_for)
        temporal = self.term(image)
        total = temporal.sum()
        (total * scale_for(total.detach())).backward()
        return {**terms, "temporal": temporal.detach(), "total": terms["total"] + temporal.detach()}
