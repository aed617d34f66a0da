"""Engine errors (core/errors.py) name their field and item, which each door renames its own way."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.cli.options import flag_name
from nst_nodes.core.errors import InputError, inputs_named
from nst_nodes.core.style import StyleSpec


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


def test_the_cli_reads_a_list_with_the_engines_rule():
    """--style-layer-weights is parsed by core/text.py, as the nodes' lists are (their message: tests/nodes/test_loss.py)."""
    from nst_nodes.cli import build_parser
    from nst_nodes.cli.inputs import loss_settings_from_args

    args = build_parser().parse_args(["stylize", "--content", "c", "--style", "s", "--out", "o", "--style-layer-weights", "1;x"])
    with pytest.raises(InputError, match=r"^--style-layer-weights: 'x' is not a number; write comma-separated numbers such as "):
        with inputs_named(flag_name):
            loss_settings_from_args(args)
