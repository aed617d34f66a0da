"""Coarse-to-fine: the sizes a run goes through and how its steps are shared.

A step's cost grows with the pixel count, and at a small size the optimiser
settles the image's layout and colours for a fraction of the price; each
larger scale then starts from the previous result upsampled and only has to
add detail. The ladder grows by sqrt(2) (pixels double) from about
LADDER_START px up to the requested size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .errors import InputError
from .geometry import MAX_SIDE, MIN_SIDE
from .text import split_list

SCALE_MODES = ("auto", "on", "off")
LADDER_START = 128
LADDER_RATIO = math.sqrt(2.0)
# `auto` climbs the ladder for results at least this large (px, longest side): measured with
# benchmarks/ladder.py on the real VGG16, see the README.
LADDER_FROM = 768
# Step shares fall with the pixel count as pixels ** -STEP_EXPONENT; see split_steps.
STEP_EXPONENT = 0.5

ScalesSetting = str | Sequence[int]


def parse_scales(spec: ScalesSetting) -> str | tuple[int, ...]:
    """'auto', 'on', 'off', '128,256' or a list of sizes -> the mode or increasing longest sides."""
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text in SCALE_MODES:
            return text
        parts = split_list(text)
        if not parts or not all(part.isdigit() for part in parts):
            raise InputError(f"{spec!r} is not auto, on, off or a list of sizes in px such as 128,256,512", "scales")
        sizes = [int(part) for part in parts]
    else:
        sizes = [int(size) for size in spec]
    if not sizes:
        raise InputError("the list of sizes is empty; use auto, on, off or sizes such as 128,256,512", "scales")
    if any(not MIN_SIDE <= size <= MAX_SIDE for size in sizes):
        raise InputError(f"{sizes} has a size outside {MIN_SIDE} to {MAX_SIDE} px", "scales")
    if any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise InputError(f"{sizes} must increase from the first size to the last, e.g. 128,256,512", "scales")
    return tuple(sizes)


def _scaled(output_hw: tuple[int, int], longest: int) -> tuple[int, int] | None:
    """output_hw shrunk so its longest side is `longest`; None if its short side would fall under MIN_SIDE."""
    factor = longest / max(output_hw)
    height, width = round(output_hw[0] * factor), round(output_hw[1] * factor)
    return (height, width) if min(height, width) >= MIN_SIDE else None


def scale_ladder(output_hw: tuple[int, int], spec: ScalesSetting = "auto") -> list[tuple[int, int]]:
    """(H, W) of every scale, smallest first, the last being `output_hw`; aspect ratio kept.

    on: output size divided by sqrt(2) as long as the longest side stays at
    or above LADDER_START (a single scale for outputs up to 181 px); auto:
    the same for outputs whose longest side is at least LADDER_FROM, one
    scale below (where one scale paints as well, see the README). A list
    gives the longest sides of the scales; sizes at or above the output's
    longest side are refused, and the output size always ends the ladder.
    Scales whose short side would fall under MIN_SIDE are left out.
    """
    mode = parse_scales(spec)
    longest = max(output_hw)
    if mode == "off" or (mode == "auto" and longest < LADDER_FROM):
        return [tuple(output_hw)]
    if mode in ("auto", "on"):
        sides: list[int] = []
        side = longest / LADDER_RATIO
        while round(side) >= LADDER_START:
            sides.insert(0, round(side))
            side /= LADDER_RATIO
    else:
        sides = [size for size in mode if size != longest]
        if sides and sides[-1] > longest:
            raise InputError(f"{list(mode)} goes beyond the result's longest side ({longest} px)", "scales")
    ladder = [hw for hw in (_scaled(output_hw, side) for side in sides) if hw is not None]
    return [*ladder, tuple(output_hw)]


def split_steps(ladder: Sequence[tuple[int, int]], steps: int) -> list[int]:
    """Steps per scale, summing to `steps`; with few steps the coarsest scales may get 0 (to be skipped).

    A scale's share is proportional to its pixel count ** -STEP_EXPONENT:
    with STEP_EXPONENT 0.5 every halving of the pixel count gives a scale
    sqrt(2) times the steps of the next larger one, so most steps run where
    they are cheap while the final scale keeps enough to sharpen the detail.
    The final scale gets at least one step.
    """
    pixels = [h * w for h, w in ladder]
    shares = [(pixels[-1] / p) ** STEP_EXPONENT for p in pixels]
    total = sum(shares)
    counts = [math.floor(steps * share / total) for share in shares]
    counts[-1] += steps - sum(counts)  # rounding remainder goes to the final scale
    return counts
