"""What a style is (core/style.py): the recipe's checks of its weights, images, masks and rotations."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.errors import InputError
from nst_nodes.core.rotation import RotationSpec
from nst_nodes.core.style import StyleSpec


def test_spec_checks():
    image = torch.rand(1, 3, 40, 40)
    with pytest.raises(InputError, match="mix"):
        StyleSpec([image], mode="average")
    with pytest.raises(InputError, match="style scale"):
        StyleSpec([image], scale=0)
    with pytest.raises(InputError, match="at least one"):
        StyleSpec([])
    assert StyleSpec([image, image], [1, 3]).mix_weights == [0.25, 0.75]


@pytest.mark.parametrize(
    "masks, extra, message",
    [
        ([torch.zeros(1, 1, 8, 8)], {}, r"^mask 1: is black everywhere"),
        ([torch.full((1, 1, 8, 8), float("nan"))], {}, r"^mask 1: the mask has NaN"),
        ([torch.ones(2, 1, 8, 8)], {}, r"^mask 1: expected one mask \[1, 1, H, W\], got \(2, 1, 8, 8\)"),
        ([torch.full((1, 1, 8, 8), 2.0)], {}, r"^mask 1: mask values must lie in \[0, 1\]"),
        ([None, torch.ones(1, 1, 8, 8)], {}, r"^mask: 2 given for 1 style images"),
        ([torch.ones(1, 1, 8, 8)], {"mode": "feature"}, r"^mix: masks need the gram mix mode"),
    ],
)
def test_bad_masks_are_refused_naming_the_mask(masks, extra, message):
    with pytest.raises(InputError, match=message):
        StyleSpec([torch.rand(1, 3, 32, 32)], masks=masks, **extra)


def test_style_masks_and_rotations_are_refused_together():
    with pytest.raises(InputError, match="^style mask: style masks cannot be combined with rotations"):
        StyleSpec([torch.rand(1, 3, 32, 32)], style_masks=[torch.ones(1, 1, 4, 4)], rotation=RotationSpec([90.0]))
