"""Will a run fit in memory? An estimate made before any large allocation, and the plan it leads to.

Running out of memory half-way through a run wastes the user's time and, on
a shared ComfyUI server, can take other work down with it. The estimate is
deliberately generous: activations of every layer the run needs (kept for
the backward pass, plus gradients), L-BFGS's history, and the weights. Where
a whole image does not fit, the plan tiles it (tiling.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import torch

from .errors import InputError
from .geometry import MAX_SIDE, MIN_SIDE
from .tiles import TilePlan
from .vgg import VGG19, Architecture

# Peak use is a little over the sum of all activations of one forward pass (plus the
# fixed costs below; README, "Large results"); 2 leaves room for allocator slack
# without refusing runs that would fit.
ACTIVATION_FACTOR = 2.0
WEIGHTS_BYTES = 80 * 2**20  # VGG19's convolutions up to conv5_4 in fp32 (VGG16's are fewer)
FIXED_OVERHEAD = 200 * 2**20
LBFGS_HISTORY = 50
# The tile sizes (core px) a run that does not fit whole tries, largest first: a larger core
# spends less on halos. The smallest one sets the largest size a device can take at all.
AUTO_TILES = (2048, 1536, 1024, 768, 512, 384, 256)


@dataclass(frozen=True)
class Footprint:
    """What a run's memory need depends on besides the image size.

    layers: every layer the extractor returns (the deepest decides how much
    of VGG runs); content_layers: those whose full-size targets a tiled run
    keeps; feature_bytes: 2 for bf16/fp16 VGG passes, 4 for fp32; batch:
    images optimised at once (a batch is never tiled); style_layers and
    style_working_bytes: what a style loss holds per feature value of those
    layers besides the activations (style_stats.py: the sliced loss's
    sorted projections); paired_positions: the most positions of a content
    layer the content loss compares pairwise (content_stats.py: the
    self-similarity's N x N matrices), 0 for one that compares no pairs.
    """

    layers: Sequence[str]
    content_layers: Sequence[str] = ()
    optimizer: str = "adam"
    architecture: Architecture = VGG19
    feature_bytes: int = 4
    batch: int = 1
    style_layers: Sequence[str] = ()
    style_working_bytes: int = 0
    paired_positions: int = 0

    def deepest(self) -> str:
        """The deepest layer, the names checked against the architecture."""
        names = self.architecture.parse_layers(self.layers, "layers")
        return max(names, key=self.architecture.layer_index.__getitem__)

    def image_bytes(self, hw: tuple[int, int]) -> int:
        """What the optimised batch costs beside the VGG's activations: itself, its gradient, the optimiser's state."""
        pixels = 3 * hw[0] * hw[1] * 4 * self.batch
        return 2 * LBFGS_HISTORY * pixels if self.optimizer == "lbfgs" else 3 * pixels

    def style_loss_bytes(self, hw: tuple[int, int]) -> int:
        """What the style loss holds beside the activations, at its style layers."""
        if not self.style_working_bytes:
            return 0
        arch, (height, width) = self.architecture, hw
        values = sum(
            arch.channels(layer) * (height // arch.stride(layer)) * (width // arch.stride(layer))
            for layer in arch.parse_layers(self.style_layers, "style_layers")
        )
        return values * self.style_working_bytes * self.batch

    def content_loss_bytes(self, hw: tuple[int, int]) -> int:
        """What the content loss holds beside the activations: four fp32 N x N matrices a content layer
        (distances, normalised, and their gradients), N its paired positions."""
        if not self.paired_positions:
            return 0
        arch, (height, width) = self.architecture, hw
        pairs = sum(
            min(self.paired_positions, (height // arch.stride(layer)) * (width // arch.stride(layer))) ** 2
            for layer in arch.parse_layers(self.content_layers, "content_layers")
        )
        return pairs * 4 * 4 * self.batch


def activation_elements(height: int, width: int, deepest: str, architecture: Architecture = VGG19) -> int:
    """Number of values one forward pass through the VGG up to `deepest` produces."""
    total = 0
    h, w = height, width
    for name in architecture.layer_names[: architecture.layer_index[deepest] + 1]:
        if name.startswith("pool"):
            h, w = h // 2, w // 2
        total += architecture.channels(name) * h * w
    return total


def estimate_run_bytes(hw: tuple[int, int], footprint: Footprint) -> int:
    """Bytes a run of `footprint.batch` whole images of `hw` needs at its peak."""
    arch = footprint.architecture
    activations = activation_elements(*hw, footprint.deepest(), arch) * footprint.feature_bytes * footprint.batch
    extra = footprint.image_bytes(hw) + footprint.style_loss_bytes(hw) + footprint.content_loss_bytes(hw)
    return int(activations * ACTIVATION_FACTOR + extra + WEIGHTS_BYTES + FIXED_OVERHEAD)


def estimate_tiled_bytes(hw: tuple[int, int], tile: int, footprint: Footprint) -> int:
    """Bytes a run of one image of `hw` computed in tiles of `tile` px (tiling.py) needs at its peak.

    One tile's activations (core plus halos), the image-size buffers with
    the optimiser's state, and the content targets at full size.
    """
    arch, height, width = footprint.architecture, *hw
    deepest = footprint.deepest()
    crop = TilePlan.exact(arch, arch.parse_layers(footprint.layers, "layers"), tile).crop_hw(hw)
    activations = activation_elements(*crop, deepest, arch) * footprint.feature_bytes * ACTIVATION_FACTOR
    targets = sum(
        arch.channels(layer) * (height // arch.stride(layer)) * (width // arch.stride(layer)) * footprint.feature_bytes
        for layer in footprint.content_layers
    )
    # Image-size buffers beside the optimiser's: the gradient, the content and the style at this size,
    # the previous scale's result and the start, the crop and its gradient, a preview (fewer
    # undercounted the peak RSS of large tiled runs).
    image = 8 * 3 * height * width * 4
    matrices = footprint.content_loss_bytes(hw)  # pass 2 forms them once, on the whole image's sampled positions
    return int(activations + targets + image + matrices + footprint.image_bytes(hw) + WEIGHTS_BYTES + FIXED_OVERHEAD)


@dataclass(frozen=True)
class MemoryPlan:
    """How a run of one image will use memory: whole or in tiles of `tile` px, what it needs, what was free."""

    hw: tuple[int, int]
    tile: int | None
    need: int
    free: int | None

    def describe(self, device: torch.device) -> str:
        height, width = self.hw
        how = "whole" if self.tile is None else f"in tiles of {self.tile} px"
        free = f"{self.free / 2**30:.1f} GiB free" if self.free is not None else "free memory unknown"
        return f"{width}x{height} {how}: about {self.need / 2**30:.1f} GiB ({device}: {free})"


def plan_memory(
    hw: tuple[int, int],
    footprint: Footprint,
    device: torch.device,
    tile: int = 0,
    what: str = "size",
    available: int | None = None,
) -> MemoryPlan:
    """Whole or tiled, for a run of one image of `hw`; refuse one that cannot fit at all, naming the size that would.

    tile: 0 lets memory decide: whole if the estimate fits, else the largest
    of AUTO_TILES that fits. A tile size > 0 tiles every image whose longest
    side is larger than it. Where free memory cannot be known the run goes
    whole unless a tile size is given. what: the setting named when refused.
    """
    free = available_bytes(device) if available is None else available

    def need(side_hw: tuple[int, int], size: int | None) -> int:
        if size is None or max(side_hw) <= size:
            return estimate_run_bytes(side_hw, footprint)
        return estimate_tiled_bytes(side_hw, size, footprint)

    choices: tuple[int | None, ...] = (tile,) if tile else (None, *(s for s in AUTO_TILES if s < max(hw)))
    for size in choices:
        estimate = need(hw, size)
        if free is None or estimate <= free:
            return MemoryPlan(hw, size if size is not None and max(hw) > size else None, estimate, free)
    smallest = choices[-1]
    how = "" if smallest is None else f" even in tiles of {smallest} px"
    _refuse(hw, lambda side_hw: need(side_hw, smallest), how, free, device, footprint.optimizer, what)


def check_fits(
    hw: tuple[int, int], footprint: Footprint, device: torch.device, what: str = "size", available: int | None = None
) -> None:
    """Refuse a run of `footprint.batch` whole images of `hw` that would not fit, saying which size would."""
    free = available_bytes(device) if available is None else available
    if free is None:
        return

    def need(side_hw: tuple[int, int]) -> int:
        return estimate_run_bytes(side_hw, footprint)

    if need(hw) > free:
        _refuse(hw, need, "", free, device, footprint.optimizer, what)


def largest_fitting(hw: tuple[int, int], fits: Callable[[tuple[int, int]], bool]) -> int | None:
    """The largest longest side (a multiple of 16, aspect kept) for which `fits`, or None below MIN_SIDE."""
    def scaled(longest: int) -> tuple[int, int]:
        factor = longest / max(hw)
        return max(1, round(hw[0] * factor)), max(1, round(hw[1] * factor))

    low, high = 0, MAX_SIDE // 16
    while low < high:  # the estimate grows with the size, so the sizes that fit are a prefix
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(scaled(middle * 16)) else (low, middle - 1)
    return low * 16 if low * 16 >= MIN_SIDE else None


def available_bytes(device: torch.device) -> int | None:
    """Memory a run may still take on `device`, or None where it cannot be known."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        reserved_unused = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + reserved_unused)
    if device.type == "mps":
        limit = getattr(torch.mps, "recommended_max_memory", None)
        return int(limit() - torch.mps.current_allocated_memory()) if limit else None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _refuse(
    hw: tuple[int, int],
    need: Callable[[tuple[int, int]], int],
    how: str,
    free: int,
    device: torch.device,
    optimizer: str,
    what: str,
) -> NoReturn:
    """Raise the error for a run that does not fit: what it needs, what is free, the largest size that fits."""
    fits = largest_fitting(hw, lambda side_hw: need(side_hw) <= free)
    hint = f"use a size of {fits} px or less" if fits else "free memory or use another device"
    raise InputError(
        f"a {hw[1]}x{hw[0]} run needs about {need(hw) / 2**30:.1f} GiB{how} but {device} has "
        f"{free / 2**30:.1f} GiB free; {hint}" + (" (or Adam instead of L-BFGS)" if optimizer == "lbfgs" else ""),
        what,
    )
