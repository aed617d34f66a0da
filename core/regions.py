"""Regional style: masks that say where each style applies (Gatys et al., CVPR 2017, guided Grams).

A region's Gram matrix weights every position's features by the mask
there (resized to the layer by area averaging), and is normalised by the
mask's own weight, so a small region's statistics are as strong as a large
one's: G = sum_p m(p)^2 F_p F_p^T / (C sum_p m(p)^2). An all-ones mask gives
the plain Gram. A region's loss term is scaled by its strength
sum m^2 / sum m: 1 for a hard mask, 0.5 for a mask of 0.5 everywhere, so
soft masks blend between the content and the style; 0 everywhere leaves
only the content loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .losses import gram_matrix


def layer_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Image-size masks [K, 1, H, W] to a layer's (h, w) by area averaging (each cell: the mask's share of it)."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    return F.adaptive_avg_pool2d(masks, size)


def region_strength(mask: torch.Tensor) -> float:
    """sum m^2 / sum m of one mask: how strongly its region is styled (0 for an empty mask)."""
    total = float(mask.sum())
    return float(mask.pow(2).sum()) / total if total > 0 else 0.0


def guided_gram(features: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Gram matrices [B, C, C] of features [B, C, h, w] weighted by a layer-size mask [1, 1, h, w].

    weight: the whole mask's sum of squares when features and mask are one
    tile's part of the layer (tiling.py); their Gram is then that tile's share.
    """
    weight = (mask.pow(2).sum() if weight is None else weight).clamp_min(torch.finfo(torch.float32).tiny)
    height, width = features.shape[-2:]
    return gram_matrix(features * mask.to(features.dtype)) * (height * width / weight)
