"""Will a run fit in memory? An estimate made before any large allocation.

Running out of memory half-way through a run wastes the user's time and, on
a shared ComfyUI server, can take other work down with it. The estimate is
deliberately generous: activations of every layer the run needs (kept for
the backward pass, plus gradients), L-BFGS's history, and the weights.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import torch

from .errors import InputError, OutOfMemoryError
from .images import MAX_SIDE, MIN_SIDE
from .tiles import TilePlan
from .vgg import VGG19, Architecture

# Measured on CPU at 512 px: peak use is 1.3 to 1.4 times the sum of all
# activations of one forward pass (plus the fixed costs below); 2 leaves room
# for allocator slack without refusing runs that would fit.
ACTIVATION_FACTOR = 2.0
WEIGHTS_BYTES = 80 * 2**20  # VGG19's convolutions up to conv5_4 in fp32 (VGG16's: 56 MiB)
FIXED_OVERHEAD = 200 * 2**20
LBFGS_HISTORY = 50
# The tile sizes (core px) a run that does not fit whole tries, largest first: a larger core
# spends less on halos. The smallest one sets the largest size a device can take at all.
AUTO_TILES = (2048, 1536, 1024, 768, 512, 384, 256)


def activation_elements(height: int, width: int, deepest: str, architecture: Architecture = VGG19) -> int:
    """Number of values one forward pass through the VGG up to `deepest` produces."""
    total = 0
    h, w = height, width
    for name in architecture.layer_names[: architecture.layer_index[deepest] + 1]:
        if name.startswith("pool"):
            h, w = h // 2, w // 2
        total += architecture.channels(name) * h * w
    return total


def estimate_run_bytes(
    height: int,
    width: int,
    layers: Sequence[str],
    optimizer: str = "lbfgs",
    batch: int = 1,
    architecture: Architecture = VGG19,
    feature_bytes: int = 4,
) -> int:
    """Bytes a run of `batch` images of height x width needs at its peak; feature_bytes: 2 for bf16/fp16 VGG passes."""
    names = architecture.parse_layers(layers, "layers")
    deepest = max(names, key=architecture.layer_index.__getitem__)
    image_bytes = 3 * height * width * 4 * batch
    activations = activation_elements(height, width, deepest, architecture) * feature_bytes * batch * ACTIVATION_FACTOR
    history = 2 * LBFGS_HISTORY * image_bytes if optimizer == "lbfgs" else 3 * image_bytes
    return int(activations + history + WEIGHTS_BYTES + FIXED_OVERHEAD)


def _whole_image_bytes(height: int, width: int, optimizer: str, batch: int) -> int:
    """What the optimised image costs beside the VGG's activations: itself, its gradient, the optimiser's state."""
    image_bytes = 3 * height * width * 4 * batch
    return 2 * LBFGS_HISTORY * image_bytes if optimizer == "lbfgs" else 3 * image_bytes


def estimate_tiled_bytes(
    height: int,
    width: int,
    tile: int,
    layers: Sequence[str],
    content_layers: Sequence[str],
    optimizer: str = "lbfgs",
    architecture: Architecture = VGG19,
    feature_bytes: int = 4,
) -> int:
    """Bytes a run of one height x width image computed in tiles of `tile` px (tiling.py) needs at its peak.

    One tile's activations (core plus halos), the image-size buffers with
    the optimiser's state, and the content targets at full size.
    """
    names = architecture.parse_layers(layers, "layers")
    deepest = max(names, key=architecture.layer_index.__getitem__)
    crop = TilePlan.exact(architecture, names, tile).crop_hw((height, width))
    activations = activation_elements(*crop, deepest, architecture) * feature_bytes * ACTIVATION_FACTOR
    targets = sum(
        architecture.channels(layer) * (height // architecture.stride(layer)) * (width // architecture.stride(layer)) * feature_bytes
        for layer in content_layers
    )
    # Image-size buffers beside the optimiser's: the gradient, the content and the style at this size,
    # the previous scale's result and the start, the crop and its gradient, a preview (measured at
    # 2048 and 4096 px: fewer undercounted the peak RSS).
    image = 8 * 3 * height * width * 4
    return int(activations + targets + image + _whole_image_bytes(height, width, optimizer, 1) + WEIGHTS_BYTES + FIXED_OVERHEAD)


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
    layers: Sequence[str],
    content_layers: Sequence[str],
    optimizer: str,
    device: torch.device,
    tile: int = 0,
    what: str = "size",
    available: int | None = None,
    architecture: Architecture = VGG19,
    feature_bytes: int = 4,
) -> MemoryPlan:
    """Whole or tiled, for a run of one image of `hw`; refuse one that cannot fit at all, naming the size that would.

    tile: 0 lets memory decide: whole if the estimate fits, else the largest
    of AUTO_TILES that fits. A tile size > 0 tiles every image whose longest
    side is larger than it. Where free memory cannot be known the run goes
    whole unless a tile size is given.
    """
    free = available_bytes(device) if available is None else available

    def need(side_hw: tuple[int, int], size: int | None) -> int:
        if size is None or max(side_hw) <= size:
            return estimate_run_bytes(*side_hw, layers, optimizer, architecture=architecture, feature_bytes=feature_bytes)
        return estimate_tiled_bytes(*side_hw, size, layers, content_layers, optimizer, architecture, feature_bytes)

    choices: tuple[int | None, ...] = (tile,) if tile else (None, *(s for s in AUTO_TILES if s < max(hw)))
    for size in choices:
        estimate = need(hw, size)
        if free is None or estimate <= free:
            return MemoryPlan(hw, size if size is not None and max(hw) > size else None, estimate, free)
    smallest = choices[-1]
    how = "" if smallest is None else f" even in tiles of {smallest} px"
    _refuse(hw, lambda side_hw: need(side_hw, smallest), how, free, device, optimizer, what)


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


def check_fits(
    height: int,
    width: int,
    layers: Sequence[str],
    optimizer: str,
    device: torch.device,
    batch: int = 1,
    what: str = "size",
    available: int | None = None,
    architecture: Architecture = VGG19,
    feature_bytes: int = 4,
) -> None:
    """Refuse a run of `batch` whole images that would not fit, saying which size would."""
    free = available_bytes(device) if available is None else available
    if free is None:
        return

    def need(hw: tuple[int, int]) -> int:
        return estimate_run_bytes(*hw, layers, optimizer, batch, architecture, feature_bytes)

    if need((height, width)) > free:
        _refuse((height, width), need, "", free, device, optimizer, what)


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


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA's and the CPU allocator's out-of-memory failures."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


@contextmanager
def gradient_run(device: torch.device, hint: str) -> Iterator[None]:
    """Autograd on (even under ComfyUI's inference mode); out-of-memory becomes a clear error.

    The failing run's tensors are gone once the exception leaves the run, so
    cached device memory is handed back before the error is raised and the
    next run starts clean.
    """
    try:
        with torch.inference_mode(False), torch.enable_grad():
            yield
    except (RuntimeError, torch.OutOfMemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise OutOfMemoryError(f"out of memory on {device} {hint}") from None
