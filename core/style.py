"""What a style is: a recipe of style images, how to blend them, where they apply and how they turn.

A `StyleSpec` is a recipe, not a tensor: it becomes per-layer Gram targets
(style_targets.py) only once the layers and the output size are known, so
that Style Mix, Style Rotate and the rotation search can hand styles to each
other cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from .checks import check_choice, check_image, check_mask, normalize_weights
from .errors import InputError
from .rotation import RotationSpec

MIX_MODES = ("gram", "feature")
MAX_STYLE_SCALE = 4.0
MIN_STYLE_SCALE = 0.1


@dataclass
class StyleSpec:
    """The recipe for a style target: images, mix weights, mix mode, scale, rotations.

    images: [1, 3, H, W] tensors in [0, 1] (any sizes). mix_weights: one per
    image, normalised to sum 1 on creation. mode: 'gram' blends each style's Gram
    matrices; 'feature' resizes the styles to one size, blends their feature
    maps, then takes the Gram. scale: style size relative to the output.
    rotation: rotated views fused into the target of every style of the mix
    (style_targets.compute_style_targets); None for the style as it is.
    masks: regional style (regions.py): one entry per image, a mask
    [1, 1, H, W] in [0, 1] over the result (any size) saying where that style
    applies, or None for everywhere. With masks each style keeps its own
    target and its own region, and the mix weights scale each region's term
    (equal weights: each at full strength) instead of blending Grams.
    style_masks: one entry per image, a mask over that style image saying
    where to take the style from, or None for all of it.
    rotation_per_style: one RotationSpec (or None) per image instead of
    `rotation`'s one for all, so that each region's style can turn its own way.
    """

    images: list[torch.Tensor]
    mix_weights: list[float] = field(default_factory=list)
    mode: str = "gram"
    scale: float = 1.0
    rotation: RotationSpec | None = None
    masks: list[torch.Tensor | None] | None = None
    style_masks: list[torch.Tensor | None] | None = None
    rotation_per_style: list[RotationSpec | None] | None = None

    def __post_init__(self) -> None:
        if not self.images:
            raise InputError("at least one style image is needed", "style")
        for index, image in enumerate(self.images):
            if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
                raise InputError(f"must be one RGB image, got shape {tuple(image.shape)}", "style", index)
        if not self.mix_weights:
            self.mix_weights = [1.0] * len(self.images)
        self.mix_weights = normalize_weights(self.mix_weights, len(self.images), "style_weights", per="style image")
        check_choice(self.mode, MIX_MODES, "mix")
        if not (MIN_STYLE_SCALE <= float(self.scale) <= MAX_STYLE_SCALE):  # also refuses NaN
            raise InputError(f"{self.scale} is out of range; use {MIN_STYLE_SCALE} to {MAX_STYLE_SCALE}", "style_scale")
        if self.rotation is not None and not isinstance(self.rotation, RotationSpec):
            raise InputError(f"expected a RotationSpec or None, got {type(self.rotation).__name__}", "style_rotation")
        if self.rotation_per_style is not None:
            if self.rotation is not None:
                raise InputError("give one rotation for every style or one per style, not both", "style_rotation")
            per_style = self.rotation_per_style
            if len(per_style) != len(self.images) or not all(r is None or isinstance(r, RotationSpec) for r in per_style):
                raise InputError(f"expected one RotationSpec or None per style image ({len(self.images)})", "style_rotation")
        for name in ("masks", "style_masks"):
            self._check_masks(name)
        style_masked = self.style_masks is not None and any(m is not None for m in self.style_masks)
        if (self.regional or style_masked) and self.mode != "gram":
            raise InputError("masks need the gram mix mode (each region keeps its own Gram target)", "mix")
        if any(m is not None and self.rotation_of(i) is not None for i, m in enumerate(self.style_masks or [])):
            raise InputError("style masks cannot be combined with rotations yet; drop one of them", "style_mask")

    def _check_masks(self, name: str) -> None:
        """One entry (a mask or None) per style; each finite, in [0, 1], and not zero everywhere."""
        masks = getattr(self, name)
        field_name = name.removesuffix("s")  # the door's input for one style: mask, style_mask
        if masks is None:
            return
        if len(masks) != len(self.images):
            raise InputError(f"{len(masks)} given for {len(self.images)} style images; give one (or none) per style", field_name)
        for index, mask in enumerate(masks):
            if mask is None:
                continue
            check_mask(mask, field_name, index)
            if float(mask.max()) == 0:
                raise InputError("is black everywhere, so this style would apply nowhere; paint where it goes", field_name, index)

    @property
    def regional(self) -> bool:
        """Whether any style is limited to a region of the result."""
        return self.masks is not None and any(mask is not None for mask in self.masks)

    def check_images(self) -> None:
        """Refuse unusable style pixels (too small, NaN...), naming the image.

        Not part of __post_init__: it scans every pixel, and the search
        makes a new spec per candidate from images already checked.
        """
        for index, image in enumerate(self.images):
            check_image(image, "style", index)

    def rotation_of(self, index: int) -> RotationSpec | None:
        """The rotation the index-th style is fused with."""
        return self.rotation_per_style[index] if self.rotation_per_style is not None else self.rotation

    def with_rotation(self, rotation: RotationSpec | None, style: int | None = None) -> "StyleSpec":
        """A copy with `rotation` (None: none) for every style, or only for the style at index `style`."""
        if style is None:
            return replace(self, rotation=rotation, rotation_per_style=None)
        if not 0 <= style < len(self.images):
            raise InputError(f"{style + 1} is not one of the recipe's {len(self.images)} style(s)", "region")
        rotations = [self.rotation_of(index) for index in range(len(self.images))]
        rotations[style] = rotation
        return replace(self, rotation=None, rotation_per_style=rotations)
