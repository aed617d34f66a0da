"""What a style is (a recipe) and the Gram targets it turns into.

A `StyleSpec` holds the style images and how to blend them; it becomes
per-layer Gram targets only once the layers and the output size are known,
computed once without gradients and reused for every step of a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .errors import InputError
from .images import MIN_SIDE, resize
from .losses import gram_matrix
from .vgg import FeatureExtractor

MIX_MODES = ("gram", "feature")
MAX_STYLE_SCALE = 4.0
MIN_STYLE_SCALE = 0.1


def normalize_weights(weights: Sequence[float], count: int, what: str = "style weights") -> list[float]:
    """Check mixing weights and scale them to sum to 1.

    Negative, NaN, infinite or all-zero weights have no meaning as a mix and
    are refused rather than silently fixed.
    """
    values = [float(w) for w in weights]
    if len(values) != count:
        raise InputError(f"{what}: {len(values)} weight(s) given for {count} style image(s); give one per style")
    if any(math.isnan(v) or math.isinf(v) for v in values):
        raise InputError(f"{what}: {values} contains NaN or infinity; use finite numbers such as 0.25,0.75")
    if any(v < 0 for v in values):
        raise InputError(f"{what}: {values} contains a negative weight; weights must be >= 0")
    total = sum(values)
    if total <= 0:
        raise InputError(f"{what}: all weights are zero; give at least one style a positive weight")
    return [v / total for v in values]


@dataclass
class StyleSpec:
    """The recipe for a style target: images, mix weights, mix mode, scale.

    images: [1, 3, H, W] tensors in [0, 1] (any sizes). weights: one per image,
    normalised to sum 1 on creation. mode: 'gram' blends each style's Gram
    matrices; 'feature' resizes the styles to one size, blends their feature
    maps, then takes the Gram. scale: style size relative to the output.
    """

    images: list[torch.Tensor]
    weights: list[float] = field(default_factory=list)
    mode: str = "gram"
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.images:
            raise InputError("style: at least one style image is needed")
        for index, image in enumerate(self.images):
            if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
                raise InputError(f"style: image {index + 1} must be one RGB image, got shape {tuple(image.shape)}")
        if not self.weights:
            self.weights = [1.0] * len(self.images)
        self.weights = normalize_weights(self.weights, len(self.images))
        if self.mode not in MIX_MODES:
            raise InputError(f"mix: {self.mode!r} is not one of {', '.join(MIX_MODES)}")
        if not (MIN_STYLE_SCALE <= float(self.scale) <= MAX_STYLE_SCALE) or math.isnan(float(self.scale)):
            raise InputError(f"style scale: {self.scale} is out of range; use {MIN_STYLE_SCALE} to {MAX_STYLE_SCALE}")


def style_size(image_hw: tuple[int, int], output_hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """A style's working size: its own aspect, longest side = scale * the output's longest side.

    Grown where needed so that its shorter side is at least MIN_SIDE, the
    smallest image VGG19's deepest style layers can still see.
    """
    height, width = image_hw
    factor = scale * max(output_hw) / max(height, width)
    factor = max(factor, MIN_SIDE / min(height, width))
    return max(MIN_SIDE, round(height * factor)), max(MIN_SIDE, round(width * factor))


@torch.no_grad()
def compute_style_targets(
    extractor: FeatureExtractor,
    spec: StyleSpec,
    layers: Sequence[str],
    output_hw: tuple[int, int],
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """Per-layer target Gram matrices [C, C] (fp32) for a style recipe."""
    if spec.mode == "feature":
        size = (max(MIN_SIDE, round(spec.scale * output_hw[0])), max(MIN_SIDE, round(spec.scale * output_hw[1])))
        blended: dict[str, torch.Tensor] = {}
        for image, weight in zip(spec.images, spec.weights):
            features = extractor(resize(image, size).to(device))
            for layer in layers:
                part = weight * features[layer].float()
                blended[layer] = part if layer not in blended else blended[layer] + part
        return {layer: gram_matrix(blended[layer])[0] for layer in layers}
    targets: dict[str, torch.Tensor] = {}
    for image, weight in zip(spec.images, spec.weights):
        if weight == 0:
            continue
        size = style_size(tuple(image.shape[-2:]), output_hw, spec.scale)
        features = extractor(resize(image, size).to(device))
        for layer in layers:
            part = weight * gram_matrix(features[layer])[0]
            targets[layer] = part if layer not in targets else targets[layer] + part
    return targets
