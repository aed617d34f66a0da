"""Text the users type for lists and sizes, parsed once for every door.

Only the form is checked here (is it a number, are there two of them); what
a value may be (finite, in range, one per style) is the settings' rule
(settings.py, style.py, rotation.py), so that it is written once.
"""

from __future__ import annotations

import re

from .errors import InputError

# Items of a list are separated by commas; semicolons are accepted too.
_SEPARATORS = re.compile(r"[,;]")


def split_list(text: str) -> list[str]:
    """'a, b;c' -> ['a', 'b', 'c']: the items of a typed list, stripped, empty ones dropped."""
    return [item.strip() for item in _SEPARATORS.split(str(text)) if item.strip()]


def parse_numbers(text: str, field: str, example: str = "0.25, 0.75") -> list[float]:
    """'0.25, 0.75' -> [0.25, 0.75]; '' -> []. A part that is not a number is named with an example."""
    values = []
    for item in split_list(text):
        try:
            values.append(float(item))
        except ValueError:
            raise InputError(f"{item!r} is not a number; write comma-separated numbers such as {example}", field) from None
    return values


def parse_pair(text: str, field: str, form: str) -> tuple[float, float]:
    """'0,360' -> (0.0, 360.0); anything but two numbers is refused, showing `form` (e.g. 'LOW,HIGH ...')."""
    items = split_list(text)
    try:
        low, high = (float(item) for item in items)
    except ValueError:
        raise InputError(f"{text!r} is not {form}", field) from None
    return low, high


def parse_exact_size(text: str) -> tuple[int, int]:
    """'256x192' -> (height, width) = (192, 256): the user writes width first."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"{text!r} is not WIDTHxHEIGHT, e.g. 256x256", "exact")
    width, height = (int(p) for p in parts)
    return height, width
