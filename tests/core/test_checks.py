"""The checks settings and inputs share (core/checks.py): style weights normalised, unusable images refused by name."""

from __future__ import annotations

import math

import pytest
import torch

from nst_nodes.core.checks import normalize_weights
from nst_nodes.core.errors import InputError
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize

from helpers import FAST, settings


@pytest.mark.parametrize("weights", [[1, 3], [0.25, 0.75], [2, 2, 4], [1e-6, 5]])
def test_weights_normalised_to_one(weights):
    normalised = normalize_weights(weights, len(weights), "style_weights", "style image")
    assert math.isclose(sum(normalised), 1.0, rel_tol=1e-12)
    assert all(math.isclose(n / normalised[0], w / weights[0]) for n, w in zip(normalised, weights))


@pytest.mark.parametrize(
    "weights, message",
    [([0, 0], "all weights are zero"), ([-1, 2], "negative"), ([float("nan"), 1], "NaN"), ([1], "one per style")],
)
def test_bad_weights_refused(weights, message):
    with pytest.raises(InputError, match=message):
        normalize_weights(weights, 2, "style_weights", "style image")


def test_nan_pixels_refused_before_the_run(vgg_model, small_images):
    content, style = small_images
    init = content.clone()
    init[..., 3, 3] = float("nan")
    with pytest.raises(InputError, match="init image: the image has NaN"):
        stylize(vgg_model, content, StyleSpec([style]), *settings(**FAST, steps=5), init_image=init)


def test_tiny_images_refused(vgg_model, small_images):
    content, style = small_images
    with pytest.raises(InputError, match="style 1: the image is 1x1 px"):
        stylize(vgg_model, content, StyleSpec([torch.rand(1, 3, 1, 1)]), *settings(**FAST, steps=1))
