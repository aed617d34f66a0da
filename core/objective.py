"""The loss a run optimises, and the set-up every run shares before its first step.

`prepare_run` is written once for `stylize` and the rotation search: it
checks the images and the layers against the loaded model, matches the
styles' colours if asked, chooses the arithmetic and builds the extractor.
The `RunSetup` it returns then makes the targets and `Objective`s: one per
scale for `stylize`, one per generation (a batch of candidate targets) for
the search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch

from .images import check_image, check_mask, match_color, resize
from .memory import check_fits
from .losses import content_loss, gram_matrix, mean_square, style_loss, tv_loss
from .precision import FP16_LOSS_SCALE, compute_dtype, prefers_channels_last
from .regions import guided_gram, layer_masks, region_strength, resize_mask
from .settings import LossSettings
from .style import StyleSpec, compute_style_targets
from .vgg import FeatureExtractor, VGGModel


@dataclass
class Objective:
    """Weighted content + style + TV loss of a batch against fixed targets.

    Targets may carry a batch dimension (one target per image, as the
    rotation search uses) or not (one target shared by all). Each layer's
    term is relative to its target's mean square (losses.py), taken once here.
    Regional style (regions.py): region_masks [K, 1, H, W] at the image's
    size and one weight per region; the style targets then carry a region
    dimension before the Gram's ([K, C, C] or [B, K, C, C]).
    """

    extractor: FeatureExtractor
    content_targets: Mapping[str, torch.Tensor]
    style_targets: Mapping[str, torch.Tensor]
    style_layer_weights: Mapping[str, float]
    content_weight: float
    style_weight: float
    tv_weight: float
    region_masks: torch.Tensor | None = None
    region_weights: Sequence[float] = ()
    content_scales: dict[str, torch.Tensor] = field(init=False, repr=False)
    style_scales: dict[str, torch.Tensor] = field(init=False, repr=False)
    _masks_by_size: dict[tuple[int, int], torch.Tensor] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.content_scales = {layer: mean_square(t, 3) for layer, t in self.content_targets.items()}
        self.style_scales = {layer: mean_square(t, 2) for layer, t in self.style_targets.items()}

    @classmethod
    def of(
        cls,
        extractor: FeatureExtractor,
        loss: LossSettings,
        content_targets: Mapping[str, torch.Tensor],
        style_targets: Mapping[str, torch.Tensor],
        regions: tuple[torch.Tensor, list[float]] | None = None,
    ) -> "Objective":
        """The loss that `loss` describes, against given targets (and regions: masks, weights)."""
        masks, weights = regions if regions is not None else (None, ())
        return cls(
            extractor=extractor,
            content_targets=content_targets,
            style_targets=style_targets,
            style_layer_weights=loss.style_weights_by_layer(),
            content_weight=loss.content_weight,
            style_weight=loss.style_weight,
            tv_weight=loss.tv_weight,
            region_masks=masks,
            region_weights=weights,
        )

    def _style_term(self, layer: str, features: torch.Tensor) -> torch.Tensor | None:
        """One layer's style loss [B]: against the one target, or region by region (None if no region weighs)."""
        target, scale = self.style_targets[layer], self.style_scales[layer]
        if self.region_masks is None:
            return style_loss(gram_matrix(features), target, scale)
        size = tuple(features.shape[-2:])
        if size not in self._masks_by_size:  # the same every step: pooled once per layer size
            self._masks_by_size[size] = layer_masks(self.region_masks, size)
        masks = self._masks_by_size[size]
        terms = [
            weight * style_loss(guided_gram(features, masks[k : k + 1]), target.select(-3, k), scale.select(-1, k))
            for k, weight in enumerate(self.region_weights)
            if weight > 0
        ]
        return torch.stack(terms).sum(0) if terms else None

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image loss terms, each [B]; 'total' is their sum.

        Each layer's terms are taken as soon as the trunk yields the layer,
        which keeps the backward pass's peak memory down (FeatureExtractor.stream).
        """
        content_terms: list[torch.Tensor] = []
        style_terms: list[torch.Tensor] = []
        for layer, features in self.extractor.stream(image):
            if self.content_weight and layer in self.content_targets:
                content_terms.append(content_loss(features, self.content_targets[layer], self.content_scales[layer]))
            if self.style_weight and layer in self.style_layer_weights:
                term = self._style_term(layer, features)
                if term is not None:
                    style_terms.append(self.style_layer_weights[layer] * term)
        zeros = image.new_zeros(image.shape[0])
        content = self.content_weight * torch.stack(content_terms).sum(0) if content_terms else zeros
        style = self.style_weight * torch.stack(style_terms).sum(0) if style_terms else zeros
        tv = self.tv_weight * tv_loss(image) if self.tv_weight else zeros
        return {"content": content, "style": style, "tv": tv, "total": content + style + tv}


@torch.no_grad()
def content_features(
    extractor: FeatureExtractor, content: torch.Tensor, layers: list[str], device: torch.device
) -> dict[str, torch.Tensor]:
    """The features of `content` ([B, 3, H, W] at the working size) at the content layers: their targets."""
    found = extractor(content.to(device))
    return {layer: found[layer].detach() for layer in layers}


def build_objective(
    extractor: FeatureExtractor, content: torch.Tensor, style: StyleSpec, loss: LossSettings, device: torch.device
) -> Objective:
    """The loss for images the size of `content` (at the working size), both targets made here for that size.

    style.scale is relative to that size. Any extractor will do (tests and
    benchmarks pass their own); a run uses its RunSetup's.
    """
    content_layers, style_weights = loss.layers_for(extractor.architecture)
    hw = tuple(content.shape[-2:])
    style_targets = compute_style_targets(extractor, style, list(style_weights), hw, device)
    return Objective.of(extractor, loss, content_features(extractor, content, content_layers, device), style_targets)


@dataclass
class RunSetup:
    """What a run prepares once, whatever its scales or candidates.

    content: the content image at the working size, on the CPU. style: the
    recipe the targets are made from (colour-matched to the content when
    asked, its images on the device). strength_map: how strongly the style
    applies per region of the result ([1, 1, H, W]), or None. backward_scale: what the loss is
    scaled by for the backward pass in fp16 (precision.FP16_LOSS_SCALE), 1 otherwise.
    """

    extractor: FeatureExtractor
    loss: LossSettings
    content: torch.Tensor
    style: StyleSpec
    content_layers: list[str]
    style_layer_weights: dict[str, float]
    precision: torch.dtype | None
    channels_last: bool
    device: torch.device
    strength_map: torch.Tensor | None = None

    @property
    def backward_scale(self) -> float:
        return FP16_LOSS_SCALE if self.precision == torch.float16 else 1.0

    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """The content layers' features of `content` ([B, 3, H, W] at the working size)."""
        return content_features(self.extractor, content, self.content_layers, self.device)

    def style_targets(
        self, output_hw: tuple[int, int], style: StyleSpec | None = None, plain: Mapping[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Gram targets of `style` (default: the run's) for an output of `output_hw` (see compute_style_targets)."""
        spec = self.style if style is None else style
        return compute_style_targets(
            self.extractor, spec, list(self.style_layer_weights), output_hw, self.device, plain=plain
        )

    def regions_at(self, hw: tuple[int, int]) -> tuple[torch.Tensor, list[float]] | None:
        """Region masks [K, 1, h, w] for images of `hw` and their weights, or None when the style applies evenly.

        K is the number of styles of a regional recipe, else 1 (the strength
        map alone). Mix weights scale each region (equal weights: 1 each);
        the strength map multiplies every region's mask.
        """
        regional = self.style.regional
        if not regional and self.strength_map is None:
            return None
        masks = self.style.masks if regional else [None]
        mix = self.style.weights if regional else [1.0]
        full = torch.ones(1, 1, *hw)
        stack = torch.cat([full if mask is None else resize_mask(mask.cpu(), hw) for mask in masks])
        if self.strength_map is not None:
            stack = stack * resize_mask(self.strength_map.cpu(), hw)
        weights = [w * len(masks) * region_strength(mask) for w, mask in zip(mix, stack)]
        return stack.to(self.device), weights

    def objective(
        self,
        content_targets: Mapping[str, torch.Tensor],
        style_targets: Mapping[str, torch.Tensor],
        hw: tuple[int, int],
    ) -> Objective:
        """The loss of these settings against given targets, for images of `hw`."""
        regions = self.regions_at(hw)
        if regions is not None and not self.style.regional:  # the strength map's one region
            style_targets = {layer: target.unsqueeze(-3) for layer, target in style_targets.items()}
        return Objective.of(self.extractor, self.loss, content_targets, style_targets, regions)

    def objective_at(self, content: torch.Tensor) -> Objective:
        """The loss for images the size of `content` (at the working size), both targets made for that size."""
        hw = tuple(content.shape[-2:])
        return self.objective(self.content_targets(content), self.style_targets(hw), hw)


def prepare_run(
    model: VGGModel,
    content: torch.Tensor,
    style: StyleSpec,
    loss: LossSettings,
    working_hw: tuple[int, int],
    device: torch.device,
    dtype: str = "auto",
    match_colors: bool = False,
    channels_last: bool | None = None,
    optimizer: str = "adam",
    batch: int = 1,
    size_field: str = "size",
    strength_map: torch.Tensor | None = None,
) -> RunSetup:
    """Check the inputs against the model and the memory, then build what every step needs.

    content: the content image as given ([1, 3, H, W]); it is resized to
    `working_hw`, the size the styles' colours are matched at when
    `match_colors`. channels_last: None lets the device and dtype decide
    (precision.prefers_channels_last). optimizer, batch: what the memory
    check counts; size_field: the setting it names when the run cannot fit.
    """
    check_image(content, "content")
    style.check_images()
    if strength_map is not None:
        check_mask(strength_map, "strength_map")
    content_layers, style_weights = loss.layers_for(model.architecture)
    check_fits(
        *working_hw, loss.layers_needed(), optimizer, device, batch=batch, what=size_field, architecture=model.architecture
    )
    content = resize(content.float(), working_hw)
    if match_colors:
        style = replace(style, images=[match_color(image, content) for image in style.images])
    style = replace(style, images=[image.float().to(device) for image in style.images])
    precision = compute_dtype(dtype, device)
    if channels_last is None:
        channels_last = prefers_channels_last(device, precision)
    extractor = model.extractor(loss.layers_needed(), device, channels_last, precision)
    return RunSetup(
        extractor, loss, content, style, content_layers, style_weights, precision, channels_last, device, strength_map
    )
