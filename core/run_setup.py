"""The set-up every run shares before its first step, and the targets and losses it makes.

`prepare_run` is written once for `stylize` and the rotation search: it
checks the images and the layers against the loaded model and the memory,
matches the styles' colours if asked, chooses the arithmetic and builds the
extractor. The `RunSetup` it returns then makes the targets and objectives:
one per scale for `stylize` (tiled, tiling.py, where a scale does not fit
whole), one per generation (a batch of candidate targets) for the search.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import torch

from .checks import check_image, check_mask
from .color import match_color
from .geometry import resize, resize_mask
from .content_stats import ContentMeasure, content_measure_for, content_measure_type
from .memory import Footprint, MemoryPlan, check_fits, estimate_run_bytes, plan_memory
from .objective import Objective, content_features
from .precision import FP16_LOSS_SCALE, compute_dtype, feature_bytes, prefers_channels_last
from .regions import region_strength
from .settings import LossSettings, RunSettings
from .style import StyleSpec
from .style_stats import StyleStatistic, check_supports, statistic_for, statistic_type
from .style_targets import compute_style_targets
from .tiles import TilePlan
from .tiling import TiledObjective, tiled_features
from .vgg import Architecture, FeatureExtractor, VGGModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workload:
    """The images a run optimises at once: their size, how many, and the setting that names the size in errors."""

    hw: tuple[int, int]
    batch: int = 1
    size_field: str = "size"


def footprint(
    architecture: Architecture, loss: LossSettings, optimizer: str, precision: torch.dtype | None, batch: int = 1
) -> Footprint:
    """What a run of these settings on this network keeps in memory besides its size (memory.Footprint)."""
    content_layers, _ = loss.layers_for(architecture)
    return Footprint(
        layers=tuple(loss.layers_needed()), content_layers=tuple(content_layers), optimizer=optimizer,
        architecture=architecture, feature_bytes=feature_bytes(precision), batch=batch,
        style_layers=tuple(loss.style_layers), style_working_bytes=statistic_type(loss.style_loss).working_bytes,
        paired_positions=content_measure_type(loss.content_loss).paired_positions,
    )  # fmt: skip


def whole_run_bytes(model: VGGModel, loss: LossSettings, run: RunSettings, content_hw: tuple[int, int]) -> int:
    """The most one run of this content at these settings needs on its device: whole, fp32 features.

    What a host (ComfyUI) frees before the run; the run itself may need less
    (reduced precision, tiles).
    """
    needs = footprint(model.architecture, loss, run.optimizer, None)
    return estimate_run_bytes(run.output_hw(content_hw), needs)


@dataclass
class RunSetup:
    """What a run prepares once, whatever its scales or candidates.

    content: the content image at the working size, on the CPU. style: the
    recipe the targets are made from (colour-matched to the content when
    asked, its images on the device). strength_map: how strongly the style
    applies per region of the result ([1, 1, H, W]), or None. memory: the
    plan of the working size; None for a batch, which is never tiled.
    """

    extractor: FeatureExtractor
    loss: LossSettings
    run: RunSettings
    content: torch.Tensor
    style: StyleSpec
    device: torch.device
    statistic: StyleStatistic  # what the style loss compares (style_stats.py), made once per run
    content_measure: ContentMeasure  # what the content loss compares (content_stats.py), made once per run
    strength_map: torch.Tensor | None = None
    memory: MemoryPlan | None = None
    _tiles: dict[tuple[int, int], TilePlan | None] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def _layers(self) -> tuple[list[str], dict[str, float]]:
        return self.loss.layers_for(self.extractor.architecture)

    @property
    def content_layers(self) -> list[str]:
        return self._layers[0]

    @property
    def style_layer_weights(self) -> dict[str, float]:
        """Each style layer's weight, in the order of the loss's style layers."""
        return self._layers[1]

    @property
    def precision(self) -> torch.dtype | None:
        return self.extractor.compute_dtype

    @property
    def backward_scale(self) -> float:
        """What the loss is scaled by for the backward pass: precision.FP16_LOSS_SCALE in fp16, else 1."""
        return FP16_LOSS_SCALE if self.precision == torch.float16 else 1.0

    def tiles_at(self, hw: tuple[int, int]) -> TilePlan | None:
        """How images of `hw` are tiled in this run, or None to take them whole (memory.plan_memory).

        Planned once per size, against the free memory measured when the run was prepared.
        """
        if self.memory is None:
            return None
        if hw not in self._tiles:
            self._tiles[hw] = self._plan_tiles(hw)
        return self._tiles[hw]

    def _plan_tiles(self, hw: tuple[int, int]) -> TilePlan | None:
        needs = footprint(self.extractor.architecture, self.loss, self.run.optimizer, self.precision)
        plan = plan_memory(hw, needs, self.device, self.run.tile, available=self.memory.free)
        return TilePlan.exact(self.extractor.architecture, self.extractor.layers, plan.tile) if plan.tile else None

    def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """The content layers' features of `content` ([B, 3, H, W] at the working size)."""
        tiles = self.tiles_at(tuple(content.shape[-2:]))
        if tiles is None:
            return content_features(self.extractor, content, self.content_layers, self.device)
        return tiled_features(self.extractor, content.to(self.device), self.content_layers, tiles)

    def style_targets(
        self, output_hw: tuple[int, int], style: StyleSpec | None = None, plain: Mapping[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Style targets of `style` (default: the run's) for an output of `output_hw` (see compute_style_targets)."""
        spec = self.style if style is None else style
        return compute_style_targets(
            self.extractor, spec, list(self.style_layer_weights), output_hw, self.device, plain=plain,
            tiles=self.tiles_at(output_hw), statistic=self.statistic,
        )  # fmt: skip

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
        mix = self.style.mix_weights if regional else [1.0]
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
        should_stop: Callable[[], bool] | None = None,
    ) -> Objective | TiledObjective:
        """The loss of these settings against given targets, for images of `hw`; tiled where they do not fit whole.

        should_stop: polled between the tiles of a tiled step.
        """
        regions = self.regions_at(hw)
        if regions is not None and not self.style.regional:  # the strength map's one region
            style_targets = {layer: target.unsqueeze(-3) for layer, target in style_targets.items()}
        objective = Objective.of(
            self.extractor, self.loss, content_targets, style_targets, self.statistic, self.content_measure, regions
        )
        tiles = self.tiles_at(hw)
        return objective if tiles is None else TiledObjective(objective, tiles, should_stop)

    def objective_at(
        self, content: torch.Tensor, should_stop: Callable[[], bool] | None = None
    ) -> Objective | TiledObjective:
        """The loss for images the size of `content` (at the working size), both targets made for that size."""
        hw = tuple(content.shape[-2:])
        return self.objective(self.content_targets(content), self.style_targets(hw), hw, should_stop)


def prepare_run(
    model: VGGModel,
    content: torch.Tensor,
    style: StyleSpec,
    loss: LossSettings,
    run: RunSettings,
    device: torch.device,
    workload: Workload,
    strength_map: torch.Tensor | None = None,
    channels_last: bool | None = None,
) -> RunSetup:
    """Check the inputs against the model and the memory, then build what every step needs.

    content: the content image as given ([1, 3, H, W]); it is resized to
    the workload's size, the size the styles' colours are matched at when
    run.preserve_color is 'histogram'. From `run` the set-up also takes the
    arithmetic (dtype), the optimiser and the tile size the memory plan
    counts. channels_last: None lets the device and dtype decide
    (precision.prefers_channels_last).
    """
    check_image(content, "content")
    style.check_images()
    if strength_map is not None:
        check_mask(strength_map, "strength_map")
    loss.layers_for(model.architecture)  # an unknown layer is named before a dtype the device lacks
    precision = compute_dtype(run.dtype, device)
    needs = footprint(model.architecture, loss, run.optimizer, precision, workload.batch)
    if workload.batch == 1:
        memory = plan_memory(workload.hw, needs, device, run.tile, what=workload.size_field)
        log.info("%s", memory.describe(device))
    else:
        memory = None
        check_fits(workload.hw, needs, device, what=workload.size_field)
    masked = style.regional or any(m is not None for m in style.style_masks or []) or strength_map is not None
    statistic = statistic_for(loss.style_loss)
    check_supports(statistic, regions=masked, tiled_hw=workload.hw if memory is not None and memory.tile else None)
    content = resize(content.float(), workload.hw)
    if run.preserve_color == "histogram":
        style = replace(style, images=[match_color(image, content) for image in style.images])
    style = replace(style, images=[image.float().to(device) for image in style.images])
    if channels_last is None:
        channels_last = prefers_channels_last(device, precision)
    extractor = model.extractor(loss.layers_needed(), device, channels_last, precision)
    return RunSetup(
        extractor=extractor, loss=loss, run=run, content=content, style=style, device=device, statistic=statistic,
        content_measure=content_measure_for(loss.content_loss), strength_map=strength_map, memory=memory,
    )  # fmt: skip
