"""Style Rotate (nodes/rotation.py): a rotation on a copy of the recipe, or on one region's style; bad values named."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.errors import InputError
from nst_nodes.core.rotation import RotationSpec

from helpers import comfy_image, plain_style, style_mix


def test_style_rotate_applies_rotation_to_a_copy(comfy):
    spec = plain_style()
    rotated = comfy.rotation.StyleRotate.execute(style=spec, angles="60, 150", fusion_weights="1, 3", rho=0.5, mode="image")[0]
    assert spec.rotation is None
    assert rotated.rotation == RotationSpec(angles=[60.0, 150.0], weights=[0.25, 0.75], rho=0.5, mode="image")
    assert rotated.images[0] is spec.images[0]  # a recipe copy, not a copy of the pixels


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"angles": "ninety"}, r"^angles: 'ninety' is not a number"),
        ({"angles": ""}, r"^angles: no number given"),
        ({"angles": "400"}, r"^angles: 400.0 is outside \[-360, 360\]"),
        ({"angles": "45", "mode": "dfr"}, r"^angles: dfr mode takes only 90, 180 or 270"),
        ({"fusion_weights": "1, 2"}, r"^fusion_weights: 2 weight\(s\) given for 1 angle"),
        ({"fusion_weights": "0"}, r"^fusion_weights: all weights are zero"),
        ({"rho": 1.5}, r"^rho: 1.5 is outside \[0, 1\]"),
    ],
)
def test_style_rotate_refuses_bad_values_by_input_name(comfy, inputs, message):
    values = {"angles": "90", "fusion_weights": "", "rho": 1.0, "mode": "image", **inputs}
    with pytest.raises(InputError, match=message):
        comfy.rotation.StyleRotate.execute(style=plain_style(), **values)


def test_style_rotate_region_turns_one_style_only(comfy):
    a, b = comfy_image(torch.rand(1, 3, 32, 32)), comfy_image(torch.rand(1, 3, 32, 32))
    spec = style_mix(comfy, style_1=a, style_2=b)
    turned = comfy.rotation.StyleRotate.execute(style=spec, angles="60", fusion_weights="", rho=1.0, mode="image", region=2)[0]
    assert turned.rotation is None and turned.rotation_per_style == [None, RotationSpec(angles=[60.0])]
    with pytest.raises(InputError, match=r"^region: 3 is not one of the recipe's 2 style"):
        comfy.rotation.StyleRotate.execute(style=spec, angles="60", fusion_weights="", rho=1.0, mode="image", region=3)


def test_style_rotate_leaves_the_range_of_a_number_to_the_engine(comfy):
    """The node parses its lists only; a NaN angle meets the engine's own rule and message, once."""
    with pytest.raises(InputError) as engine:
        RotationSpec(angles=[float("nan")])
    with pytest.raises(InputError) as node:
        comfy.rotation.StyleRotate.execute(style=plain_style(), angles="nan", fusion_weights="", rho=1.0, mode="image")
    assert str(node.value) == "angles: " + engine.value.problem
