"""The optimisation loop (core/optimize.py): it lowers the losses, reports each step, averages its iterates if asked, stops and fails cleanly."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.errors import InputError, NonFiniteLossError, StopRequested
from nst_nodes.core.objective import Objective
from nst_nodes.core.optimize import optimize_pixels
from nst_nodes.core.quality import structure_score, style_distance
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize

from helpers import FAST, settings


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


class _Quadratic:
    """(image - target)^2: a loss whose iterates every test can follow."""

    backward = Objective.backward

    def __init__(self, target: torch.Tensor) -> None:
        self.target = target

    def __call__(self, image):
        value = (image - self.target).pow(2).flatten(1).mean(1)
        return {"content": value, "style": value * 0, "tv": value * 0, "total": value}


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_an_averaged_run_returns_the_bias_corrected_mean_of_its_iterates(optimizer):
    generator = torch.Generator().manual_seed(0)
    start, target = torch.rand(1, 3, 8, 8, generator=generator), torch.rand(1, 3, 8, 8, generator=generator)
    iterates: list[torch.Tensor] = []
    result = optimize_pixels(
        _Quadratic(target), start, 12, optimizer, 0.05, average=0.8, on_step=lambda info: iterates.append(info.preview())
    )
    weights = torch.tensor([0.8 ** (len(iterates) - 1 - k) * 0.2 for k in range(len(iterates))])
    expected = sum(w * image for w, image in zip(weights, iterates)) / weights.sum()
    torch.testing.assert_close(result.image, expected, rtol=1e-5, atol=1e-6)
    last = optimize_pixels(_Quadratic(target), start, 12, optimizer, 0.05)
    torch.testing.assert_close(last.image, iterates[-1], rtol=1e-5, atol=1e-6)  # average 0: the last iterate
    assert not torch.allclose(result.image, last.image)


def test_averaging_is_a_run_setting_checked_and_named():
    assert settings(average=0.9)[0].average == 0.9
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(InputError, match=r"^average: .* is not in \[0, 1\)"):
            settings(average=bad)


def _tile_changes(result: torch.Tensor, content: torch.Tensor, grid: int = 4) -> torch.Tensor:
    """Mean absolute change from the content in each cell of a grid x grid split."""
    change = (result - content).abs().mean(1, keepdim=True)
    return torch.nn.functional.adaptive_avg_pool2d(change, grid).flatten()


def test_lbfgs_stylises_every_tile_and_keeps_the_layout(real_vgg16, pair, default_run):
    content, style = pair
    chosen = settings(size=192, steps=150, optimizer="lbfgs")
    result = stylize(real_vgg16, content, StyleSpec([style]), *chosen).image
    changes = _tile_changes(result, content)
    assert float(changes.min()) >= float(changes.median()) / 3, changes
    assert structure_score(result, content) >= structure_score(default_run, content) - 0.1
    assert style_distance(real_vgg16, result, style) <= 0.2 * style_distance(real_vgg16, content, style)
