"""Exact tiling: one optimisation step of a large image computed tile by tile, with the untiled result.

A Gram matrix (and the Gaussian statistics of style_stats.py) is a sum
over positions, and what a content loss compares (content_stats.py) is a
sum of the tiles' shares too (their part of the error, or the sampled
positions they hold), so all split over any partition of a layer's
positions into tiles ("cores"). A tiled step runs in two passes:
1. without gradients, every tile's core features add up to the whole
   image's summaries (Grams, content error): the loss, exactly;
2. the loss's gradient with respect to each summary S (dL/dS) is taken
   from those whole-image summaries, and each tile runs forward and
   backward on <dL/dS, its own share of S>, whose gradient with respect to
   the tile's features is exactly the whole loss's (the gradient at a
   position depends only on dL/dS and that position's features). The
   tiles' pixel gradients are summed.

Where the tiles fall (tiles.py) makes every core feature the whole image's,
so the result is the untiled step's up to floating-point rounding; the cost
is the halos' extra pixels plus pass 1's extra forward pass. The TV term is
taken on the whole image directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from .errors import StopRequested
from .objective import Objective
from .regions import layer_masks
from .style_stats import StyleStatistic
from .tiles import Tile, TilePlan, Window
from .vgg import FeatureExtractor

ScaleFor = Callable[[torch.Tensor], torch.Tensor | float]


def layer_strides(extractor: FeatureExtractor) -> dict[str, int]:
    """Each requested layer's stride in image pixels."""
    return {layer: extractor.architecture.stride(layer) for layer in extractor.layers}


def _core_slices(span: tuple[int, int], crop: tuple[int, int], length: int, stride: int) -> tuple[slice, slice]:
    """A core's positions in a layer of this stride: within the crop's features, and within the whole layer's."""
    whole_end = length // stride if span[1] == length else span[1] // stride
    start, offset = span[0] // stride, crop[0] // stride
    return slice(start - offset, whole_end - offset), slice(start, whole_end)


def core_features(
    extractor: FeatureExtractor, crop: torch.Tensor, tile: Tile, image_hw: tuple[int, int], strides: dict[str, int]
) -> Iterator[tuple[str, torch.Tensor, Window]]:
    """(layer, the tile's core features, where they sit) for each requested layer of `crop` (the tile's crop)."""
    height, width = image_hw
    for layer, features in extractor.stream(crop):
        stride = strides[layer]
        local_rows, rows = _core_slices(tile.core_rows, tile.crop_rows, height, stride)
        local_cols, cols = _core_slices(tile.core_cols, tile.crop_cols, width, stride)
        if rows.stop > rows.start and cols.stop > cols.start:
            yield layer, features[:, :, local_rows, local_cols], Window(rows, cols, (height // stride, width // stride))


def crop_of(image: torch.Tensor, tile: Tile) -> torch.Tensor:
    """The pixels a tile reads."""
    return image[:, :, tile.crop_rows[0] : tile.crop_rows[1], tile.crop_cols[0] : tile.crop_cols[1]]


@torch.no_grad()
def tiled_features(
    extractor: FeatureExtractor, image: torch.Tensor, layers: list[str], plan: TilePlan
) -> dict[str, torch.Tensor]:
    """The whole image's features at `layers`, assembled from tile cores (content targets of a large image)."""
    strides = layer_strides(extractor)
    hw = tuple(image.shape[-2:])
    found: dict[str, torch.Tensor] = {}
    for tile in plan.tiles(hw):
        for layer, features, window in core_features(extractor, crop_of(image, tile), tile, hw, strides):
            if layer not in layers:
                continue
            if layer not in found:
                found[layer] = features.new_zeros((*features.shape[:2], *window.layer_hw))
            found[layer][:, :, window.rows, window.cols] = features
    return found


@torch.no_grad()
def tiled_targets(
    extractor: FeatureExtractor,
    statistic: StyleStatistic,
    image: torch.Tensor,
    layers: Sequence[str],
    plan: TilePlan,
    mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The whole image's statistics [B, ...] at `layers` (guided by an image-size mask [1, 1, H, W]), summed over tiles.

    For additive statistics only, whose summary of a style image is its target.
    """
    strides = layer_strides(extractor)
    hw = tuple(image.shape[-2:])
    whole_masks: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    summaries: dict[str, torch.Tensor] = {}
    for tile in plan.tiles(hw):
        for layer, features, window in core_features(extractor, crop_of(image, tile), tile, hw, strides):
            if layer not in layers:
                continue
            if mask is None:
                summary = statistic.summary(features) * window.share
            else:
                if layer not in whole_masks:
                    pooled = layer_masks(mask, window.layer_hw)
                    whole_masks[layer] = pooled, pooled.pow(2).sum()
                pooled, weight = whole_masks[layer]
                summary = statistic.summary(features, pooled[..., window.rows, window.cols], weight)
            summaries[layer] = summary if layer not in summaries else summaries[layer] + summary
    return summaries


class TiledObjective:
    """An Objective evaluated and differentiated tile by tile; the same loss and gradient (module docstring).

    should_stop is polled between tiles, since one step of a large image
    takes long.
    """

    def __init__(self, objective: Objective, plan: TilePlan, should_stop: Callable[[], bool] | None = None) -> None:
        self.objective = objective
        self.plan = plan
        self.should_stop = should_stop
        self.strides = layer_strides(objective.extractor)

    def _tiles(self, image: torch.Tensor) -> Iterator[Tile]:
        for tile in self.plan.tiles(tuple(image.shape[-2:])):
            if self.should_stop is not None and self.should_stop():
                raise StopRequested("stopped during a step")
            yield tile

    def _cores(self, crop: torch.Tensor, tile: Tile, image: torch.Tensor) -> Iterator[tuple[str, torch.Tensor, Window]]:
        return core_features(self.objective.extractor, crop, tile, tuple(image.shape[-2:]), self.strides)

    @torch.no_grad()
    def _statistics(self, image: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, dict[int, torch.Tensor]]]:
        """Pass 1: each content layer's summary and each style layer's summaries, of the whole image, summed over tiles."""
        objective = self.objective
        content: dict[str, torch.Tensor] = {}
        summaries: dict[str, dict[int, torch.Tensor]] = {}
        for tile in self._tiles(image):
            for layer, features, window in self._cores(crop_of(image, tile), tile, image):
                if objective.uses_content(layer):
                    part = objective.content_summary(layer, features, window)
                    content[layer] = part if layer not in content else content[layer] + part
                if objective.uses_style(layer):
                    found = summaries.setdefault(layer, {})
                    for region, summary in objective.style_summaries(layer, features, window).items():
                        found[region] = summary if region not in found else found[region] + summary
        return content, summaries

    def _terms(
        self, image: torch.Tensor, content: dict[str, torch.Tensor], summaries: dict[str, dict[int, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        objective = self.objective
        content_terms = [objective.content_from_summary(layer, summary) for layer, summary in content.items()]
        style = [objective.style_from_summaries(layer, by_region) for layer, by_region in summaries.items()]
        return objective.combine(image, content_terms, [term for term in style if term is not None])

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image loss terms, each [B], without gradients."""
        with torch.no_grad():
            return self._terms(image, *self._statistics(image))

    def backward(self, image: torch.Tensor, scale_for: ScaleFor) -> dict[str, torch.Tensor]:
        """Add d(total * scale_for(total)) / d(image) to image.grad (a leaf); return the loss terms, detached."""
        objective = self.objective
        content, summaries = self._statistics(image)
        for summary in [*content.values(), *(s for by_region in summaries.values() for s in by_region.values())]:
            summary.requires_grad_(True)
        with torch.enable_grad():
            terms = self._terms(image, content, summaries)
            total = terms["total"].sum()
            factor = scale_for(total.detach())
            if total.requires_grad:  # dL/dS of every summary, and the TV term's pixel gradient
                (total * factor).backward()
            if image.grad is None:
                image.grad = torch.zeros_like(image)
            for tile in self._tiles(image):
                crop = crop_of(image.detach(), tile).clone().requires_grad_(True)
                surrogate = crop.new_zeros(())
                for layer, features, window in self._cores(crop, tile, image):
                    if objective.uses_content(layer) and content[layer].grad is not None:
                        surrogate = surrogate + (objective.content_summary(layer, features, window) * content[layer].grad).sum()
                    if objective.uses_style(layer):
                        for region, summary in objective.style_summaries(layer, features, window).items():
                            slope = summaries[layer][region].grad  # None where the summary's term has no weight
                            if slope is not None:
                                surrogate = surrogate + (summary * slope).sum()
                if surrogate.requires_grad:
                    surrogate.backward()
                    crop_of(image.grad, tile).add_(crop.grad)
        return {key: value.detach() for key, value in terms.items()}
