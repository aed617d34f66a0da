"""The optimisation loop: it lowers the losses, is reproducible, stops and fails cleanly."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.errors import InputError, NonFiniteLossError, StopRequested
from nst_nodes.core.images import rgb_to_ycbcr
from nst_nodes.core.objective import Objective
from nst_nodes.core.optimize import optimize_pixels
from nst_nodes.core.transfer import stylize
from nst_nodes.core.style import StyleSpec

from helpers import pil_resize, settings, stripes

FAST = dict(size=48, content_layers=("relu3_1",), style_layers=("relu1_1", "relu2_1", "relu3_1"))


def test_style_only_from_noise_lowers_style_loss_by_90_percent(vgg_model, small_images):
    content, style = small_images
    chosen = settings(**FAST, steps=60, optimizer="adam", lr=0.05, init="noise", content_weight=0, style_weight=1e4)
    result = stylize(vgg_model, content, StyleSpec([style]), *chosen)
    first, last = result.metrics.history[0]["style"], result.metrics.final["style"]
    assert last <= 0.1 * first, (first, last)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_content_and_style_lower_total_loss(vgg_model, small_images, optimizer):
    content, style = small_images
    chosen = settings(**FAST, steps=40, optimizer=optimizer, style_weight=1e4)
    result = stylize(vgg_model, content, StyleSpec([style]), *chosen)
    history = result.metrics.history
    assert history[0]["step"] == 0 and history[-1]["step"] == 40
    assert result.metrics.final["total"] < 0.7 * history[0]["total"]
    assert result.image.shape == (1, 3, 36, 48)
    assert result.image.min() >= 0 and result.image.max() <= 1


def test_same_seed_same_bytes_different_seed_differs(vgg_model, small_images):
    content, style = small_images

    def run(seed):
        chosen = settings(**FAST, steps=8, optimizer="adam", init="noise", seed=seed)
        return stylize(vgg_model, content, StyleSpec([style]), *chosen).image

    first, again, other = run(7), run(7), run(8)
    assert first.numpy().tobytes() == again.numpy().tobytes()
    assert not torch.equal(first, other)


def test_inputs_untouched_and_inference_mode_ok(vgg_model, small_images):
    content, style = small_images
    content_copy, style_copy = content.clone(), style.clone()
    with torch.inference_mode():
        frozen_content, frozen_style = content.clone(), style.clone()
        result = stylize(vgg_model, frozen_content, StyleSpec([frozen_style]), *settings(**FAST, steps=3))
    assert torch.equal(frozen_content, content_copy) and torch.equal(frozen_style, style_copy)
    assert result.image.shape == (1, 3, 36, 48)
    assert all(not p.requires_grad for p in vgg_model.features.parameters())


def test_callbacks_and_stop(vgg_model, small_images):
    content, style = small_images
    seen = []

    def on_step(info):
        seen.append((info.step, info.total, info.preview().shape))

    stylize(vgg_model, content, StyleSpec([style]), *settings(**FAST, steps=4), on_step=on_step)
    assert seen == [(s, 4, (1, 3, 36, 48)) for s in range(1, 5)]
    calls = []

    def stop_after_two():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(StopRequested, match="step 2"):
        stylize(vgg_model, content, StyleSpec([style]), *settings(**FAST, steps=50), should_stop=stop_after_two)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_nan_loss_stops_the_run_at_once(optimizer):
    calls = []

    class TurnsNaN:
        """A quadratic loss that becomes NaN at its fourth evaluation."""

        backward = Objective.backward

        def __call__(self, image):
            calls.append(1)
            value = (image - 0.5).pow(2).flatten(1).mean(1)
            if len(calls) >= 4:
                value = value * float("nan")
            return {"content": value, "style": value * 0, "tv": value * 0, "total": value}

    seen = []
    with pytest.raises(NonFiniteLossError, match="step 3"):
        optimize_pixels(TurnsNaN(), torch.rand(1, 3, 8, 8), 20, optimizer, 0.1, on_step=lambda info: seen.append(info.step))
    assert seen == [1, 2, 3] and len(calls) == 4


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


def test_luminance_keeps_content_colours(vgg_model):
    content = stripes(36, 48, 0.0, seed=3)
    style = stripes(48, 48, 45.0, seed=4)
    chosen = settings(**FAST, steps=10, style_weight=1e4, preserve_color="luminance")
    result = stylize(vgg_model, content, StyleSpec([style]), *chosen).image
    chroma_result = rgb_to_ycbcr(result)[:, 1:]
    chroma_content = rgb_to_ycbcr(content)[:, 1:]
    assert (chroma_result - chroma_content).abs().mean() < 0.02


def test_histogram_matches_colour_statistics():
    from nst_nodes.core.images import match_color

    source = torch.rand(1, 3, 30, 30, generator=torch.Generator().manual_seed(1)) * 0.5
    reference = stripes(30, 30, 10.0, seed=2) * 0.8 + 0.1
    matched = match_color(source, reference)
    flat_m, flat_r = matched[0].reshape(3, -1), reference[0].reshape(3, -1)
    torch.testing.assert_close(flat_m.mean(1), flat_r.mean(1), atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(flat_m), torch.cov(flat_r), atol=0.01, rtol=0)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(steps=0), "steps"),
        (dict(lr=-1.0), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(size=8), "size"),
        (dict(content_layers=("relu9_9",)), "unknown layer"),
        (dict(style_layer_weights=(1.0,)), "one per layer"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(content_weight=0, style_weight=0), "both are 0"),
    ],
)
def test_settings_refused_with_named_input(change, message):
    with pytest.raises(InputError, match=message):
        settings(**{**FAST, **change})
