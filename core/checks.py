"""Checks that several settings types and inputs share, each naming the field it is about.

Every rule here is written once; the settings (settings.py), the style and
rotation recipes, the run set-up and the doors all use these, so a rule and
its message cannot drift apart between the command line and the nodes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .errors import InputError
from .geometry import MIN_INPUT_SIDE


def check_int(value: Any, field: str, least: int, most: int | None = None, meaning: str = "") -> int:
    """A whole number in [least, most]; booleans and floats are refused, not rounded."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least or (most is not None and value > most):
        span = f"{least} to {most}" if most is not None else f">= {least}"
        hint = f" ({meaning})" if meaning else ""
        raise InputError(f"{value!r} is out of range; use a whole number {span}{hint}", field)
    return value


def check_nonnegative(value: Any, field: str, index: int | None = None) -> float:
    """A finite number >= 0."""
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise InputError(f"{number} must be a finite number >= 0", field, index)
    return number


def check_choice(value: Any, choices: Sequence[str], field: str) -> str:
    """One of a fixed set of names."""
    if value not in choices:
        raise InputError(f"{value!r} is not one of {', '.join(choices)}", field)
    return value


def normalize_weights(weights: Sequence[float], count: int, field: str, per: str) -> list[float]:
    """Check mixing weights (one per `per`) and scale them to sum to 1.

    Negative, NaN, infinite or all-zero weights have no meaning as a mix and
    are refused rather than silently fixed; a bad item is named by its index.
    """
    values = [float(w) for w in weights]
    if len(values) != count:
        raise InputError(f"{len(values)} weight(s) given for {count} {per}(s); give one per {per}", field)
    for index, value in enumerate(values):
        if not math.isfinite(value):
            raise InputError(f"{value} is NaN or infinite; use finite numbers such as 0.25,0.75", field, index)
        if value < 0:
            raise InputError(f"{value} is a negative weight; weights must be >= 0", field, index)
    total = sum(values)
    if total <= 0:
        raise InputError(f"all weights are zero; give at least one {per} a positive weight", field)
    return [v / total for v in values]


def check_image(image: torch.Tensor, field: str, index: int | None = None) -> None:
    """Refuse a tensor that is not one finite RGB picture of a usable size."""
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise InputError(f"expected one RGB image [1, 3, H, W], got shape {tuple(image.shape)}", field, index)
    height, width = image.shape[-2:]
    if min(height, width) < MIN_INPUT_SIDE:
        raise InputError(f"the image is {width}x{height} px; use one at least {MIN_INPUT_SIDE} px on each side", field, index)
    if not torch.isfinite(image).all():
        raise InputError("the image has NaN or infinite pixel values", field, index)


def check_mask(mask: torch.Tensor, field: str, index: int | None = None) -> None:
    """Refuse a tensor that is not one finite mask [1, 1, H, W] with values in [0, 1]."""
    if not isinstance(mask, torch.Tensor) or mask.dim() != 4 or mask.shape[:2] != (1, 1) or min(mask.shape[-2:]) < 1:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InputError(f"expected one mask [1, 1, H, W], got {shape}", field, index)
    if not torch.isfinite(mask).all():
        raise InputError("the mask has NaN or infinite values", field, index)
    if float(mask.min()) < 0 or float(mask.max()) > 1:
        raise InputError("mask values must lie in [0, 1] (white 1: apply, black 0: not)", field, index)
