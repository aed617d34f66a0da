"""Style Mix (nodes/style.py): weights and masks per connected style, bad values named by their input."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.errors import InputError

from helpers import comfy_image, comfy_mask, style_mix


def test_style_mix_quarter_three_quarters(comfy):
    a, b = comfy_image(torch.rand(1, 3, 40, 50)), comfy_image(torch.rand(1, 3, 30, 30))
    before = (a.clone(), b.clone())
    spec = style_mix(comfy, style_1=a, style_2=b, weight_1=0.25, weight_2=0.75, weight_4=0.0)
    assert spec.mix_weights == [0.25, 0.75]  # weight_3/4 belong to unconnected inputs and are ignored
    assert [tuple(i.shape) for i in spec.images] == [(1, 3, 40, 50), (1, 3, 30, 30)]
    assert torch.equal(a, before[0]) and torch.equal(b, before[1])
    assert not spec.images[0].is_inference()  # usable with autograd later
    assert spec.images[0].data_ptr() != a.data_ptr()


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"weight_1": 0.0, "weight_2": 0.0}, r"^weight_1, weight_2: all weights are zero"),
        ({"weight_2": -1.0}, r"^weight_2: -1.0 is a negative weight"),
        ({"mode": "blend"}, r"^mode: 'blend' is not one of gram, feature"),
        ({"style_scale": 9.0}, r"^style_scale: 9.0 is out of range"),
    ],
)
def test_style_mix_refuses_bad_values_by_input_name(comfy, inputs, message):
    images = {"style_1": comfy_image(torch.rand(1, 3, 32, 32)), "style_2": comfy_image(torch.rand(1, 3, 32, 32))}
    with pytest.raises(InputError, match=message):
        style_mix(comfy, **images, **inputs)


def test_style_mix_wants_one_image_per_style(comfy):
    with pytest.raises(InputError, match=r"^style_2: got a batch of 3 images"):
        style_mix(comfy, style_1=comfy_image(torch.rand(1, 3, 32, 32)), style_2=comfy_image(torch.rand(3, 3, 32, 32)))


# Saved UI workflows store widget values by position and sockets by slot: the new inputs come last.
STYLE_MIX_INPUTS = [
    "style_1", "weight_1", "weight_2", "weight_3", "weight_4", "mode", "style_scale", "style_2", "style_3", "style_4",
    "mask_1", "mask_2", "mask_3", "mask_4",
]  # fmt: skip


OPTIMIZE_INPUTS = [
    "vgg", "content", "style", "steps", "optimizer", "learning_rate", "size", "init", "preserve_color", "seed",
    "preview_interval", "dtype", "scales", "tile", "average", "loss", "init_image", "strength_map", "fast_model",
]  # fmt: skip


def test_mask_inputs_come_after_the_existing_inputs(comfy):
    for node, expected in ((comfy.style.StyleMix, STYLE_MIX_INPUTS), (comfy.optimize.Optimize, OPTIMIZE_INPUTS)):
        inputs = node.GET_SCHEMA().inputs
        assert [item.id for item in inputs] == expected
        masks = [item for item in inputs if item.get_io_type() == "MASK"]
        assert masks and all(item.optional for item in masks)


def test_style_mix_passes_masks_per_connected_style(comfy):
    styles = {f"style_{n}": comfy_image(torch.rand(1, 3, 32, 32)) for n in (1, 2, 4)}  # style_3 not connected
    right = comfy_mask(torch.arange(30).ge(15).float().expand(1, 20, 30))
    soft = comfy_mask(torch.full((24, 24), 0.5))  # a bare [H, W] mask
    spec = style_mix(comfy, **styles, mask_2=right, mask_4=soft)
    first, second, fourth = spec.masks
    assert first is None  # style_1 applies everywhere
    assert torch.equal(second, right.reshape(1, 1, 20, 30)) and torch.equal(fourth, soft.reshape(1, 1, 24, 24))
    assert not second.is_inference() and second.data_ptr() != right.data_ptr()
    assert spec.regional and len(spec.images) == 3
    assert style_mix(comfy, **styles).masks is None  # no mask: the plain recipe of before


@pytest.mark.parametrize(
    "masks, message",
    [
        ({"mask_1": torch.rand(2, 16, 16)}, r"^mask_1: got a batch of 2 masks; connect one mask"),
        ({"mask_1": torch.zeros(1, 16, 16)}, r"^mask_1: is black everywhere"),  # SolidMask with value 0
        ({"mask_4": torch.zeros(1, 16, 16)}, r"^mask_4: is black everywhere"),  # the third connected style
        ({"mask_2": torch.full((1, 16, 16), 2.0)}, r"^mask_2: mask values must lie in \[0, 1\]"),
        ({"mask_2": torch.full((1, 16, 16), float("nan"))}, r"^mask_2: the mask has NaN"),
        ({"mask_3": torch.ones(1, 16, 16)}, r"^mask_3: style_3 is not connected"),
        ({"mask_1": torch.ones(1, 16, 16), "mode": "feature"}, r"^mode: masks need the gram mix mode"),
    ],
)
def test_style_mix_refuses_bad_masks_by_input_name(comfy, masks, message):
    styles = {f"style_{n}": comfy_image(torch.rand(1, 3, 32, 32)) for n in (1, 2, 4)}
    inputs = {name: comfy_mask(value) if name.startswith("mask") else value for name, value in masks.items()}
    with pytest.raises(InputError, match=message):
        style_mix(comfy, **styles, **inputs)
