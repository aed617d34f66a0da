"""Typed lists and pairs (core/text.py): parsed once for every door; only their form is checked here."""

from __future__ import annotations

import pytest

from nst_nodes.core.errors import InputError
from nst_nodes.core.text import parse_numbers, parse_pair, split_list


def test_split_list_strips_and_drops_empty_items():
    assert split_list(" relu1_1, relu2_1 ;relu3_1,, ") == ["relu1_1", "relu2_1", "relu3_1"]
    assert split_list("") == [] and split_list(" , ; ") == []


def test_numbers_parse_and_a_bad_item_is_named_with_an_example():
    assert parse_numbers("0.25, 0.75", "style_weights") == [0.25, 0.75]
    assert parse_numbers("", "style_weights") == []
    with pytest.raises(InputError, match=r"^style weights: 'x' is not a number; write comma-separated numbers such as 1, 2$"):
        parse_numbers("1, x", "style_weights", example="1, 2")


def test_values_are_left_to_the_settings_rules():
    """NaN and negative numbers are numbers: the settings refuse them, with their own message (written once)."""
    assert parse_numbers("nan, -1", "style_weights")[1] == -1.0


@pytest.mark.parametrize("text", ["ten", "1", "1,2,3", "1,x"])
def test_a_pair_is_two_numbers(text):
    assert parse_pair("0, 360", "angle_range", "LOW,HIGH") == (0.0, 360.0)
    with pytest.raises(InputError, match=rf"^angle range: '{text}' is not LOW,HIGH in degrees$"):
        parse_pair(text, "angle_range", "LOW,HIGH in degrees")
