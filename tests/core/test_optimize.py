"""The optimisation loop (core/optimize.py): it lowers the losses, reports each step, stops and fails cleanly."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.errors import NonFiniteLossError, StopRequested
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
