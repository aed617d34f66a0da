"""The judges of benchmarks/: the sliced Wasserstein distance of VGG features, a judge that is not a Gram distance."""

from __future__ import annotations

import torch

from nst_nodes.core.quality import sliced_style_distance

from helpers import stripes


def test_the_sliced_distance_sees_the_distribution_not_the_layout(vgg_model):
    style = stripes(64, 64, 30.0, seed=2)
    assert sliced_style_distance(vgg_model, style, style) < 1e-9
    # The same values at other places (rows and columns shuffled) keep most of the feature distribution ...
    generator = torch.Generator().manual_seed(0)
    shuffled = style[..., torch.randperm(64, generator=generator), :][..., torch.randperm(64, generator=generator)]
    other = stripes(64, 64, 120.0, period=4.0, seed=7).flip(1) * 0.5
    near, far = sliced_style_distance(vgg_model, shuffled, style), sliced_style_distance(vgg_model, other, style)
    assert near < far
    # ... and it is seeded: the same directions each time.
    assert sliced_style_distance(vgg_model, other, style) == far
