"""Gram matrices and the content, style and total-variation losses.

Normalisation is chosen so that the weights mean the same at every image
size: a Gram matrix is divided by C*H*W (a mean over positions, scaled by the
channel count as in the PyTorch tutorial this project's defaults follow),
and every loss is a mean, not a sum.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, C] Gram matrices, computed in fp32 for stability."""
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width).float()
    return torch.bmm(flat, flat.transpose(1, 2)) / (channels * height * width)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of feature maps, per batch item -> [B]."""
    diff = features.float() - target.float()
    return diff.pow(2).flatten(1).mean(1)


def style_loss(gram: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of Gram matrices, per batch item -> [B]; target [C, C] or [B, C, C]."""
    return (gram - target).pow(2).flatten(1).mean(1)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels, per batch item -> [B]."""
    dy = (image[:, :, 1:, :] - image[:, :, :-1, :]).pow(2).flatten(1).mean(1)
    dx = (image[:, :, :, 1:] - image[:, :, :, :-1]).pow(2).flatten(1).mean(1)
    return dy + dx


def weighted_style_loss(
    features: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
) -> torch.Tensor:
    """Sum over style layers of weight * style_loss -> [B]."""
    terms = [w * style_loss(gram_matrix(features[layer]), targets[layer]) for layer, w in layer_weights.items()]
    return torch.stack(terms).sum(0)


def weighted_content_loss(
    features: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
) -> torch.Tensor:
    """Sum over content layers of weight * content_loss -> [B]."""
    terms = [w * content_loss(features[layer], targets[layer]) for layer, w in layer_weights.items()]
    return torch.stack(terms).sum(0)


__all__ = ["gram_matrix", "content_loss", "style_loss", "tv_loss", "weighted_style_loss", "weighted_content_loss"]
