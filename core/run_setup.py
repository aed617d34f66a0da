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

import torch

from .images import check_image, check_mask, match_color, resize
from .memory import MemoryPlan, check_fits, plan_memory
from .objective import Objective, content_features
from .precision import FP16_LOSS_SCALE, compute_dtype, prefers_channels_last
from .regions import region_strength, resize_mask
from .settings import LossSettings
from .style import StyleSpec, compute_style_targets
from .tiles import TilePlan
from .tiling import TiledObjective, tiled_features
from .vgg import FeatureExtractor, VGGModel

log = logging.getLogger(__name__)


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
    optimizer: str = "adam"
    tile: int = 0  # tile size in px, 0: as memory decides (memory.plan_memory)
    memory: MemoryPlan | None = None  # of the working size; None for a batch, which is never tiled
    _tiles: dict[tuple[int, int], TilePlan | None] = field(default_factory=dict, init=False, repr=False)

    @property
    def backward_scale(self) -> float:
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
        plan = plan_memory(
            hw, self.loss.layers_needed(), self.content_layers, self.optimizer, self.device, self.tile,
            available=self.memory.free, architecture=self.extractor.architecture,
            feature_bytes=feature_bytes(self.precision),
        )  # fmt: skip
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
        """Gram targets of `style` (default: the run's) for an output of `output_hw` (see compute_style_targets)."""
        spec = self.style if style is None else style
        return compute_style_targets(
            self.extractor, spec, list(self.style_layer_weights), output_hw, self.device, plain=plain,
            tiles=self.tiles_at(output_hw),
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
        should_stop: Callable[[], bool] | None = None,
    ) -> Objective | TiledObjective:
        """The loss of these settings against given targets, for images of `hw`; tiled where they do not fit whole.

        should_stop: polled between the tiles of a tiled step.
        """
        regions = self.regions_at(hw)
        if regions is not None and not self.style.regional:  # the strength map's one region
            style_targets = {layer: target.unsqueeze(-3) for layer, target in style_targets.items()}
        objective = Objective.of(self.extractor, self.loss, content_targets, style_targets, regions)
        tiles = self.tiles_at(hw)
        return objective if tiles is None else TiledObjective(objective, tiles, should_stop)

    def objective_at(
        self, content: torch.Tensor, should_stop: Callable[[], bool] | None = None
    ) -> Objective | TiledObjective:
        """The loss for images the size of `content` (at the working size), both targets made for that size."""
        hw = tuple(content.shape[-2:])
        return self.objective(self.content_targets(content), self.style_targets(hw), hw, should_stop)


def memory_plan(
    model: VGGModel,
    loss: LossSettings,
    working_hw: tuple[int, int],
    optimizer: str,
    device: torch.device,
    tile: int = 0,
    size_field: str = "size",
    dtype: str = "auto",
) -> MemoryPlan:
    """Whole or tiled, and what it needs, for one image of `working_hw` (memory.plan_memory); refuses what cannot fit."""
    content_layers, _ = loss.layers_for(model.architecture)
    return plan_memory(
        working_hw, loss.layers_needed(), content_layers, optimizer, device, tile, what=size_field,
        architecture=model.architecture, feature_bytes=feature_bytes(compute_dtype(dtype, device)),
    )  # fmt: skip


def feature_bytes(precision: torch.dtype | None) -> int:
    """Bytes of one feature value in the VGG passes: 2 for bf16/fp16, 4 for fp32 (None)."""
    return 4 if precision is None else torch.finfo(precision).bits // 8


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
    tile: int = 0,
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
    if batch == 1:
        memory = memory_plan(model, loss, working_hw, optimizer, device, tile, size_field, dtype)
        log.info("%s", memory.describe(device))
    else:
        memory = None
        check_fits(
            *working_hw, loss.layers_needed(), optimizer, device, batch, size_field, architecture=model.architecture,
            feature_bytes=feature_bytes(compute_dtype(dtype, device)),
        )  # fmt: skip
    content = resize(content.float(), working_hw)
    if match_colors:
        style = replace(style, images=[match_color(image, content) for image in style.images])
    style = replace(style, images=[image.float().to(device) for image in style.images])
    precision = compute_dtype(dtype, device)
    if channels_last is None:
        channels_last = prefers_channels_last(device, precision)
    extractor = model.extractor(loss.layers_needed(), device, channels_last, precision)
    return RunSetup(
        extractor, loss, content, style, content_layers, style_weights, precision, channels_last, device, strength_map,
        optimizer, tile, memory,
    )  # fmt: skip
