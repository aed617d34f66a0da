"""Sizes: what a side may be, the result's size from the content's, and resizing images and masks.

The engine works on float tensors [B, C, H, W]; images ([B, 3, H, W]) stay
in [0, 1] when resized, masks ([K, 1, H, W]) too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import InputError

# The smallest side VGG19 can look at down to pool4 with a 2x2 map left.
MIN_SIDE = 32
MAX_SIDE = 8192
# Smaller inputs hold no texture or content worth transferring.
MIN_INPUT_SIDE = 16


def check_side(value: int, field: str) -> None:
    """Refuse sides VGG19 cannot use or that no device could hold."""
    if not MIN_SIDE <= value <= MAX_SIDE:
        raise InputError(f"{value} px is out of range; use {MIN_SIDE} to {MAX_SIDE} px", field)


def fit_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """(H, W) scaled so that the longer side is `longest`, keeping the aspect ratio."""
    scale = longest / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    if min(new_h, new_w) < MIN_SIDE:
        raise InputError(
            f"at {longest} px the image ({width}x{height}) would be {new_w}x{new_h}, "
            f"under the {MIN_SIDE} px VGG19 needs; use a larger size or a less elongated image",
            "size",
        )
    return new_h, new_w


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize of [B, 3, H, W] to (H, W), kept in [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    out = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True)
    return out.clamp_(0, 1)


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[K, 1, H, W] masks to (H, W) of the image: antialiased bilinear, kept in [0, 1]."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask.float(), size=size, mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)
