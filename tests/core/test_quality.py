"""The judges of benchmarks/ that are not a Gram distance: the sliced Wasserstein distance of VGG features, the colour histogram."""

from __future__ import annotations

import torch

from nst_nodes.core.quality import border_excess, color_distance, sliced_style_distance

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


def test_the_colour_distance_sees_the_palette_not_the_layout():
    style = stripes(64, 64, 30.0, seed=2)
    generator = torch.Generator().manual_seed(1)
    shuffled = style.flatten(2)[..., torch.randperm(64 * 64, generator=generator)].view_as(style)
    assert color_distance(style, style) == 0.0 and color_distance(shuffled, style) < 1e-12
    red, blue = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    red[:, 0], blue[:, 2] = 1.0, 1.0
    assert color_distance(red, blue) == 1.0
    half = torch.cat([red, blue], -1)
    assert 0.0 < color_distance(half, blue) < 1.0


def test_the_border_excess_reads_a_frame_and_only_a_frame():
    content = stripes(64, 64, 30.0, seed=3)
    generator = torch.Generator().manual_seed(2)
    even = (content + 0.05 * torch.randn(content.shape, generator=generator)).clamp(0, 1)
    framed = even.clone()
    framed[..., :2, :], framed[..., :, -2:] = 1.0, 1.0
    assert 0.8 < border_excess(even, content) < 1.25
    assert border_excess(framed, content) > 3 * border_excess(even, content)
