"""Rotated styles (core/rotation.py): the image rotation's geometry, DFR's published operation, the rotation recipe."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from PIL import Image

from nst_nodes.core.errors import InputError
from nst_nodes.core.geometry import MIN_SIDE
from nst_nodes.core.images import pil_to_tensor, tensor_to_pil
from nst_nodes.core.losses import gram_matrix
from nst_nodes.core.rotation import (
    RotationSpec,
    dfr_rotate_features,
    inscribed_size,
    parse_angle_weights,
    rotate_style_image,
    rotated_size,
    size_for_rotation,
)
from nst_nodes.core.style import StyleSpec

from helpers import stripes


def _smooth_image(height: int, width: int) -> torch.Tensor:
    """Asymmetric and smooth, so that PIL's and our resampling agree closely."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    return torch.stack([0.5 + 0.5 * torch.sin(6 * xs + 2 * ys), 0.5 + 0.5 * torch.cos(3 * ys - 4 * xs), xs * ys])[None]


@pytest.mark.parametrize("angle", [30.0, 60.0, 135.0, -45.0, 200.0, 300.0])
def test_rotation_matches_pil_counter_clockwise(angle):
    image = _smooth_image(60, 80)
    ours = rotate_style_image(image, angle)
    pil = pil_to_tensor(tensor_to_pil(image).rotate(angle, resample=Image.BICUBIC, expand=True))
    height, width = ours.shape[-2:]
    top, left = (pil.shape[-2] - height) // 2, (pil.shape[-1] - width) // 2
    centre = pil[..., top : top + height, left : left + width]
    assert (ours - centre).abs().mean() < 0.012
    # The same crop of the image turned the other way is clearly different: the direction is tested.
    other = rotate_style_image(image, -angle)
    assert other.shape == ours.shape and (other - centre).abs().mean() > 0.05


@pytest.mark.parametrize("angle, turns", [(90, 1), (180, 2), (270, 3), (-90, 3), (450 - 360, 1)])
def test_quarter_turns_are_exact_and_match_pil(angle, turns):
    image = pil_to_tensor(tensor_to_pil(torch.rand(1, 3, 20, 28, generator=torch.Generator().manual_seed(1))))
    ours = rotate_style_image(image, angle)
    pil = pil_to_tensor(tensor_to_pil(image).rotate(angle, expand=True))
    assert torch.equal(ours, pil)
    assert torch.equal(ours, torch.rot90(image, turns, dims=(2, 3)))


def test_stripes_turn_the_expected_way():
    """helpers.stripes(angle) are counter-clockwise from horizontal; turning 60 deg stripes by 120 or 300 levels them."""
    style = stripes(64, 64, 60.0)
    for angle, horizontal in ((120.0, True), (300.0, True), (30.0, False), (60.0, False)):
        turned = rotate_style_image(style, angle)[0, 0]
        along_rows, along_cols = turned.var(dim=1).mean(), turned.var(dim=0).mean()
        assert bool(along_rows < 0.1 * along_cols) is horizontal, angle


def _corners_look_like_centre(image: torch.Tensor, patch: int = 4) -> bool:
    """Each corner patch varies about as much as the centre does (an empty corner is constant)."""
    height, width = image.shape[-2:]
    top, left = (height - patch) // 2, (width - patch) // 2
    centre_std = float(image[..., top : top + patch, left : left + patch].std())
    corners = [
        image[..., :patch, :patch],
        image[..., :patch, -patch:],
        image[..., -patch:, :patch],
        image[..., -patch:, -patch:],
    ]
    return all(float(c.std()) > 0.4 * centre_std for c in corners)


@pytest.mark.parametrize("angle", [17.0, 45.0, 100.0, 225.0, -30.0])
def test_no_empty_corners(angle):
    noise = torch.rand(1, 3, 64, 80, generator=torch.Generator().manual_seed(3))
    assert _corners_look_like_centre(rotate_style_image(noise, angle))
    # The check does catch empty corners: PIL's rotation without cropping leaves black ones.
    naive = pil_to_tensor(tensor_to_pil(noise).rotate(angle, resample=Image.BICUBIC, expand=True))
    assert not _corners_look_like_centre(naive)


def test_inscribed_rectangle_lies_inside_and_fills_the_square_case():
    """Property: the crop's corners, turned back, lie in the source; for a square it has the known side."""
    rng = random.Random(0)
    for _ in range(300):
        height, width = rng.uniform(10, 400), rng.uniform(10, 400)
        angle = rng.uniform(-360, 360)
        crop_h, crop_w = inscribed_size(height, width, angle)
        assert crop_h > 0 and crop_w > 0
        theta = math.radians(angle)
        for sx in (-1, 1):
            for sy in (-1, 1):
                x, y = sx * crop_w / 2, sy * crop_h / 2
                source_x = x * math.cos(theta) - y * math.sin(theta)
                source_y = x * math.sin(theta) + y * math.cos(theta)
                assert abs(source_x) <= width / 2 + 1e-6 and abs(source_y) <= height / 2 + 1e-6
    for angle in (10.0, 30.0, 45.0, 80.0, 123.0):
        folded = math.radians(angle % 90)
        side = 100.0 / (abs(math.sin(folded)) + abs(math.cos(folded)))
        crop_h, crop_w = inscribed_size(100.0, 100.0, angle)
        assert crop_h == pytest.approx(side) and crop_w == pytest.approx(side)


def _largest_inside_area(height: float, width: float, angle: float) -> float:
    """Brute force over widths: the largest area of a centred axis-aligned w x h inside the turned rectangle.

    Its corners turned back lie in the source iff w|cos| + h|sin| <= width and w|sin| + h|cos| <= height.
    """
    cos, sin = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    w = np.linspace(0.0, min(width / cos, height / sin), 100_001)
    h = np.minimum((width - w * cos) / sin, (height - w * sin) / cos)
    return float((w * h).max())


def test_turned_image_is_the_largest_rectangle_inside_and_growth_keeps_vgg_minimum():
    """Property over random sizes and angles: the turned image's shape lies inside the source and is, but for
    flooring each side to whole pixels, the brute-force largest rectangle; and grown sizes suffice."""
    rng = random.Random(1)
    for _ in range(40):
        height, width, angle = rng.randint(20, 90), rng.randint(20, 90), rng.uniform(-360, 360)
        out_h, out_w = rotate_style_image(torch.rand(1, 3, height, width), angle).shape[-2:]
        cos, sin = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
        assert out_w * cos + out_h * sin <= width + 1e-9 and out_w * sin + out_h * cos <= height + 1e-9, angle
        # each side floored from the optimum h* x w*: out_h * out_w > (h* - 1)(w* - 1) > best - out_h - out_w - 1
        assert out_h * out_w > _largest_inside_area(height, width, angle) - out_h - out_w - 1, angle
    for _ in range(500):
        size, angle = (rng.randint(MIN_SIDE, 300), rng.randint(MIN_SIDE, 300)), rng.uniform(-360, 360)
        grown = size_for_rotation(size, angle, MIN_SIDE)
        assert min(rotated_size(*grown, angle)) >= MIN_SIDE
        assert grown[0] >= size[0] and grown[1] >= size[1]
    assert size_for_rotation((64, 64), 45.0, MIN_SIDE) == (64, 64)


def test_dfr_90_is_the_published_transpose():
    """Reference: the (1, H, W, C) tensor fully transposed to (C, W, H, 1), then reshaped to (1, H, W, C)."""
    features = torch.rand(2, 5, 3, 4, generator=torch.Generator().manual_seed(2))
    ours = dfr_rotate_features(features, 90).permute(0, 2, 3, 1).numpy()
    for item in range(2):
        nhwc = features[item : item + 1].permute(0, 2, 3, 1).numpy()
        reference = np.transpose(nhwc).reshape(nhwc.shape)
        np.testing.assert_array_equal(ours[item : item + 1], reference)
    np.testing.assert_array_equal(dfr_rotate_features(features, 180).numpy(), features.flip(3).numpy())
    np.testing.assert_array_equal(dfr_rotate_features(features, 270).numpy(), dfr_rotate_features(features, 90).flip(3).numpy())


def test_dfr_grams_change_for_90_not_for_180():
    features = torch.relu(torch.randn(1, 8, 6, 10, generator=torch.Generator().manual_seed(4)))
    plain = gram_matrix(features)
    torch.testing.assert_close(gram_matrix(dfr_rotate_features(features, 180)), plain, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(gram_matrix(dfr_rotate_features(features, 90)), plain, rtol=1e-2)
    torch.testing.assert_close(
        gram_matrix(dfr_rotate_features(features, 270)), gram_matrix(dfr_rotate_features(features, 90)), rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(angles=[400.0]), "rotation angles"),
        (dict(angles=[float("nan")]), "rotation angles"),
        (dict(angles=[]), "rotation angles"),
        (dict(angles=[45.0], mode="dfr"), "dfr mode takes only"),
        (dict(angles=[90.0], mode="spin"), "rotation mode"),
        (dict(angles=[90.0], rho=1.5), "rotation weight"),
        (dict(angles=[90.0], rho=float("nan")), "rotation weight"),
        (dict(angles=[90.0, 10.0], weights=[1.0]), "one per angle"),
        (dict(angles=[90.0, 10.0], weights=[0.0, 0.0]), "rotation weights"),
    ],
)
def test_bad_rotation_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        RotationSpec(**kwargs)


def test_rotation_spec_normalises_and_style_copies():
    rotation = RotationSpec([60, 150], [1, 3], rho=0.5)
    assert rotation.weights == [0.25, 0.75] and rotation.angles == [60.0, 150.0]
    assert RotationSpec([10, 20, 30]).weights == pytest.approx([1 / 3] * 3)
    spec = StyleSpec([torch.rand(1, 3, 40, 40)])
    turned = spec.with_rotation(rotation)
    assert turned.rotation is rotation and spec.rotation is None and turned.images is spec.images


@pytest.mark.parametrize(
    "text, angles, weights",
    [("60:0.5,150:0.5", [60.0, 150.0], [0.5, 0.5]), ("60,150", [60.0, 150.0], [1.0, 1.0]), ("-90:2", [-90.0], [2.0])],
)
def test_parse_angle_weights(text, angles, weights):
    assert parse_angle_weights(text) == (angles, weights)


@pytest.mark.parametrize("text", ["", "sixty", "60:x", ",,"])
def test_parse_angle_weights_refuses(text):
    with pytest.raises(InputError, match="rotate"):
        parse_angle_weights(text)
