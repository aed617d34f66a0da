"""`stylize` (core/transfer.py): the result's start and seed, its climb over the scales, a default run on real features."""

from __future__ import annotations

import torch

from nst_nodes.core import transfer as transfer_module
from nst_nodes.core.quality import structure_score, style_distance
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize

from helpers import FAST, pil_resize, settings

LIGHT_STYLE = {**FAST, "style_weight": 10.0}


def test_same_seed_same_bytes_different_seed_differs(vgg_model, small_images):
    content, style = small_images

    def run(seed):
        chosen = settings(**FAST, steps=8, optimizer="adam", init="noise", seed=seed)
        return stylize(vgg_model, content, StyleSpec([style]), *chosen).image

    first, again, other = run(7), run(7), run(8)
    assert first.numpy().tobytes() == again.numpy().tobytes()
    assert not torch.equal(first, other)


def test_init_choices(vgg_model, small_images):
    content, style = small_images
    results = {}
    for init in ("content", "noise", "style"):
        chosen = settings(**FAST, steps=1, optimizer="adam", lr=1e-6, init=init)
        results[init] = stylize(vgg_model, content, StyleSpec([style]), *chosen).image
    # the content start is the content at the result's size; reference: PIL's antialiased bicubic resize
    torch.testing.assert_close(results["content"], pil_resize(content, (36, 48)), atol=1e-4, rtol=0)
    assert results["noise"].std() > 0.2  # uniform noise has std 0.29
    assert not torch.allclose(results["style"], results["content"], atol=0.05)


def test_coarse_to_fine_warm_starts_and_counts_steps_over_all_scales(vgg_model, small_images, monkeypatch):
    content, style = small_images
    calls = []
    real = transfer_module.optimize_pixels

    def spy(objective, init, steps, **kwargs):
        result = real(objective, init, steps, **kwargs)
        calls.append((init.clone(), result.image.clone(), kwargs["first_step"]))
        return result

    monkeypatch.setattr(transfer_module, "optimize_pixels", spy)
    seen = []
    chosen = settings(**{**LIGHT_STYLE, "size": 96}, steps=6, scales="64", optimizer="adam")
    result = stylize(
        vgg_model, content, StyleSpec([style]), *chosen, on_step=lambda info: seen.append((info.step, info.total, info.preview().shape))
    )
    assert [tuple(init.shape[-2:]) for init, _, _ in calls] == [(48, 64), (72, 96)]
    assert [first for _, _, first in calls] == [0, 3]
    # The second scale starts from the first scale's result, upsampled (as PIL's bicubic does it): the warm start.
    torch.testing.assert_close(calls[1][0], pil_resize(calls[0][1], (72, 96)), atol=1e-5, rtol=0)
    assert seen == [(step, 6, (1, 3, 72, 96)) for step in range(1, 7)]
    metrics = result.metrics
    assert metrics.steps == 6 and [s["size"] for s in metrics.scales] == [[48, 64], [72, 96]]
    assert [s["steps"] for s in metrics.scales] == [3, 3] and metrics.params["scales"] == (64,)
    assert [record["step"] for record in metrics.history] == list(range(7))
    assert result.image.shape == (1, 3, 72, 96)


def test_default_run_paints_the_style_and_keeps_the_layout(real_vgg16, pair, default_run):
    content, style = pair
    before = style_distance(real_vgg16, content, style)
    after = style_distance(real_vgg16, default_run, style)
    assert after <= 0.1 * before, (before, after)
    assert structure_score(default_run, content) >= 0.45
