"""The loss a run optimises: content, style and TV terms of a batch against fixed targets.

The terms are built layer by layer (content_summary, content_from_summary,
style_summaries, style_from_summaries, combine) so that tiling.py can add
the same terms up tile by tile; `Objective.__call__` takes them on the whole
image. What a content layer's term compares (feature maps, their
self-similarity) is the run's content measure (content_stats.py); what a
style layer's term compares (Grams, Gaussian statistics, sorted
projections) is its style statistic (style_stats.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .content_stats import ContentMeasure, MseContent
from .losses import tv_loss
from .regions import layer_masks
from .settings import LossSettings
from .style_stats import GramStatistic, Prepared, StyleStatistic
from .tiles import Window
from .vgg import FeatureExtractor


@dataclass
class Objective:
    """Weighted content + style + TV loss of a batch against fixed targets.

    Targets may carry a batch dimension (one target per image, as the
    rotation search uses) or not (one target shared by all). Each layer's
    term is relative to its target (losses.py), whose fixed part is taken
    once here. Regional style (regions.py): region_masks [K, 1, H, W] at the
    image's size and one weight per region; the style targets then carry a
    region dimension before the statistic's two ([K, C, C] or [B, K, C, C]
    for Grams).
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
    statistic: StyleStatistic = field(default_factory=GramStatistic)
    content_measure: ContentMeasure = field(default_factory=MseContent)
    content_prepared: dict[str, Prepared] = field(init=False, repr=False)
    style_prepared: dict[str, Prepared] = field(init=False, repr=False)
    _masks_by_size: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.content_prepared = {layer: self.content_measure.prepare(t) for layer, t in self.content_targets.items()}
        self.style_prepared = {layer: self.statistic.prepare(t) for layer, t in self.style_targets.items()}

    @classmethod
    def of(
        cls,
        extractor: FeatureExtractor,
        loss: LossSettings,
        content_targets: Mapping[str, torch.Tensor],
        style_targets: Mapping[str, torch.Tensor],
        statistic: StyleStatistic,
        content_measure: ContentMeasure,
        regions: tuple[torch.Tensor, list[float]] | None = None,
    ) -> "Objective":
        """The loss that `loss` describes, with its statistic and measure (taken once per run), against given
        targets (and regions: masks, weights)."""
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
            statistic=statistic,
            content_measure=content_measure,
        )

    def uses_content(self, layer: str) -> bool:
        return bool(self.content_weight) and layer in self.content_targets

    def uses_style(self, layer: str) -> bool:
        return bool(self.style_weight) and layer in self.style_layer_weights

    def _layer_masks(self, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The region masks pooled to a layer's size, and each one's sum of squares (the same every step: pooled once)."""
        if size not in self._masks_by_size:
            masks = layer_masks(self.region_masks, size)
            self._masks_by_size[size] = (masks, masks.pow(2).flatten(1).sum(1))
        return self._masks_by_size[size]

    def content_summary(self, layer: str, features: torch.Tensor, window: Window | None = None) -> torch.Tensor:
        """What a content layer's loss compares; for one tile's core features (window), that tile's share of it."""
        return self.content_measure.summary(features, self.content_prepared[layer], window)

    def content_from_summary(self, layer: str, summary: torch.Tensor) -> torch.Tensor:
        """One content layer's term [B] from its summary (content_summary), the shares of all tiles summed."""
        return self.content_measure.loss(summary, self.content_prepared[layer])

    def style_summaries(self, layer: str, features: torch.Tensor, window: Window | None = None) -> dict[int, torch.Tensor]:
        """What a style layer's loss compares, by region (0 without regions; weightless ones left out).

        For one tile's core features (window) each is that tile's share of
        the whole image's (an additive statistic): the shares of all tiles sum to it.
        """
        if self.region_masks is None:
            summary = self.statistic.summary(features)
            return {0: summary if window is None else summary * window.share}
        size = tuple(features.shape[-2:]) if window is None else window.layer_hw
        masks, weights = self._layer_masks(size)
        if window is not None:
            masks = masks[..., window.rows, window.cols]
        return {
            k: self.statistic.summary(features, masks[k : k + 1], weights[k])
            for k, weight in enumerate(self.region_weights)
            if weight > 0
        }

    def style_from_summaries(self, layer: str, summaries: Mapping[int, torch.Tensor]) -> torch.Tensor | None:
        """One style layer's weighted term [B] from its summaries by region (style_summaries); None if no region weighs."""
        prepared = self.style_prepared[layer]
        if self.region_masks is None:
            return self.style_layer_weights[layer] * self.statistic.loss(summaries[0], prepared)
        region_dim = self.style_targets[layer].dim() - 3  # targets: [(B,) K, ...two statistic dims]
        terms = [
            self.region_weights[k] * self.statistic.loss(summary, tuple(part.select(region_dim, k) for part in prepared))
            for k, summary in summaries.items()
        ]
        return self.style_layer_weights[layer] * torch.stack(terms).sum(0) if terms else None

    def combine(
        self, image: torch.Tensor, content_terms: Sequence[torch.Tensor], style_terms: Sequence[torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The weighted content, style and TV terms and their total, each [B], from the layers' terms."""
        zeros = image.new_zeros(image.shape[0])
        content = self.content_weight * torch.stack(list(content_terms)).sum(0) if content_terms else zeros
        style = self.style_weight * torch.stack(list(style_terms)).sum(0) if style_terms else zeros
        tv = self.tv_weight * tv_loss(image) if self.tv_weight else zeros
        return {"content": content, "style": style, "tv": tv, "total": content + style + tv}

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image loss terms, each [B]; 'total' is their sum.

        Each layer's terms are taken as soon as the trunk yields the layer,
        which keeps the backward pass's peak memory down (FeatureExtractor.stream).
        """
        content_terms: list[torch.Tensor] = []
        style_terms: list[torch.Tensor] = []
        for layer, features in self.extractor.stream(image):
            if self.uses_content(layer):
                content_terms.append(self.content_from_summary(layer, self.content_summary(layer, features)))
            if self.uses_style(layer):
                term = self.style_from_summaries(layer, self.style_summaries(layer, features))
                if term is not None:
                    style_terms.append(term)
        return self.combine(image, content_terms, style_terms)

    def backward(self, image: torch.Tensor, scale_for: Callable[[torch.Tensor], torch.Tensor | float]) -> dict[str, torch.Tensor]:
        """Add d(total * scale_for(total)) / d(image) to image.grad; return the loss terms, detached.

        scale_for sees the loss's value first, which lets the optimiser
        normalise it (L-BFGS) or scale it for fp16 before any backward pass.
        """
        terms = self(image)
        total = terms["total"].sum()
        (total * scale_for(total.detach())).backward()
        return {key: value.detach() for key, value in terms.items()}


@torch.no_grad()
def content_features(
    extractor: FeatureExtractor, content: torch.Tensor, layers: list[str], device: torch.device
) -> dict[str, torch.Tensor]:
    """The features of `content` ([B, 3, H, W] at the working size) at the content layers: their targets."""
    found = extractor(content.to(device))
    return {layer: found[layer].detach() for layer in layers}
