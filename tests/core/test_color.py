"""Colour (core/color.py): --preserve-color luminance keeps the content's chroma; colour matching its statistics."""

from __future__ import annotations

import torch

from nst_nodes.core.color import rgb_to_ycbcr
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize

from helpers import FAST, settings, stripes


def test_luminance_keeps_content_colours(vgg_model):
    content = stripes(36, 48, 0.0, seed=3)
    style = stripes(48, 48, 45.0, seed=4)
    chosen = settings(**FAST, steps=10, style_weight=1e4, preserve_color="luminance")
    result = stylize(vgg_model, content, StyleSpec([style]), *chosen).image
    chroma_result = rgb_to_ycbcr(result)[:, 1:]
    chroma_content = rgb_to_ycbcr(content)[:, 1:]
    assert (chroma_result - chroma_content).abs().mean() < 0.02


def test_histogram_matches_colour_statistics():
    from nst_nodes.core.color import match_color

    source = torch.rand(1, 3, 30, 30, generator=torch.Generator().manual_seed(1)) * 0.5
    reference = stripes(30, 30, 10.0, seed=2) * 0.8 + 0.1
    matched = match_color(source, reference)
    flat_m, flat_r = matched[0].reshape(3, -1), reference[0].reshape(3, -1)
    torch.testing.assert_close(flat_m.mean(1), flat_r.mean(1), atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(flat_m), torch.cov(flat_r), atol=0.01, rtol=0)
