"""Sizes (core/geometry.py): the result's size from the content's longest side (and an exact size, core/text.py)."""

from __future__ import annotations

import pytest

from nst_nodes.core.errors import InputError
from nst_nodes.core.geometry import fit_size
from nst_nodes.core.text import parse_exact_size


def test_sizes():
    assert fit_size(300, 400, 200) == (150, 200)
    assert fit_size(1, 1, 64) == (64, 64)
    assert parse_exact_size("256x192") == (192, 256)
    with pytest.raises(InputError, match="under the 32 px"):
        fit_size(10, 1000, 256)
    with pytest.raises(InputError, match="WIDTHxHEIGHT"):
        parse_exact_size("256")
