"""Settings are checked when made, and their errors carry the field, which each door names its own way."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nst_nodes.cli.common import flag_name
from nst_nodes.core.errors import InputError, inputs_named
from nst_nodes.core.settings import LossSettings, RunSettings, SearchSettings
from nst_nodes.core.style import StyleSpec


@pytest.mark.parametrize(
    "make",
    [
        lambda: dataclasses.replace(RunSettings(), steps=0),
        lambda: dataclasses.replace(LossSettings(), style_layers=("relu9_9",)),
        lambda: dataclasses.replace(SearchSettings(), angle_range=(90.0, 10.0)),
    ],
)
def test_a_replaced_setting_is_checked_too(make):
    """Nodes and the CLI patch settings with replace(); a bad value cannot slip in that way."""
    with pytest.raises(InputError):
        make()


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunSettings().steps = 0  # type: ignore[misc]


def test_error_names_its_field_and_item():
    error = InputError("-1.0 is a negative weight", "style_weights", 1)
    assert str(error) == "style weights 2: -1.0 is a negative weight"
    assert error.fields == ("style_weights",) and error.index == 1
    both = InputError("both are 0", ("content_weight", "style_weight"))
    assert str(both) == "content weight, style weight: both are 0"
    assert str(InputError("content: file not found")) == "content: file not found"  # no field: as written


def test_each_door_names_the_same_engine_rule_its_own_way():
    """One rule in StyleSpec; the CLI says --style-weights, the node the input of the second connected style."""
    images = [torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)]
    connected = [0, 2]  # style_1 and style_3 are connected

    def node_name(field: str, index: int | None) -> str:
        return f"weight_{connected[index] + 1}" if field == "style_weights" else field

    messages = []
    for namer in (flag_name, node_name):
        with pytest.raises(InputError) as caught, inputs_named(namer):
            StyleSpec(images, [1.0, -1.0])
        messages.append(str(caught.value))
    assert messages == ["--style-weights: -1.0 is a negative weight; weights must be >= 0",
                        "weight_3: -1.0 is a negative weight; weights must be >= 0"]  # fmt: skip


def test_renaming_leaves_errors_without_a_field_alone():
    with pytest.raises(InputError, match="^content: file not found$"), inputs_named(flag_name):
        raise InputError("content: file not found")
