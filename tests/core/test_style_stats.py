"""The style losses beyond Gram (core/style_stats.py): Gaussian W2 and sliced Wasserstein, and what each run may use."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from nst_nodes.core.errors import InputError
from nst_nodes.core.quality import sliced_style_distance
from nst_nodes.core.search import search_rotation
from nst_nodes.core.settings import LossSettings, RunSettings, SearchSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.style_stats import GaussianStatistic, SlicedStatistic, statistic_for
from nst_nodes.core.style_targets import compute_style_targets
from nst_nodes.core.transfer import stylize

from helpers import halves, photo

CPU = torch.device("cpu")


def _gaussian_features(generator: torch.Generator, channels: int, side: int, shift: float) -> torch.Tensor:
    """Features [1, C, side, side] drawn from a correlated Gaussian, float64."""
    mixing = torch.randn(channels, channels, generator=generator, dtype=torch.float64)
    draw = torch.randn(channels, side * side, generator=generator, dtype=torch.float64)
    return (mixing @ draw + shift).view(1, channels, side, side)


def _closed_form_w2(a: torch.Tensor, b: torch.Tensor) -> float:
    """W2^2 between the Gaussians of two feature sets' means and covariances (scipy's sqrtm), / the second's mean square."""
    x, y = a[0].flatten(1).numpy(), b[0].flatten(1).numpy()
    mx, my = x.mean(1), y.mean(1)
    sx, sy = np.cov(x, bias=True), np.cov(y, bias=True)
    root = scipy.linalg.sqrtm(sy)
    cross = scipy.linalg.sqrtm(root @ sx @ root)
    distance = np.sum((mx - my) ** 2) + np.trace(sx) + np.trace(sy) - 2 * np.trace(cross).real
    return float(distance / np.mean(np.sum(y**2, 0)))


def test_w2_of_identical_statistics_is_zero_and_of_others_the_closed_form():
    generator = torch.Generator().manual_seed(3)
    statistic = GaussianStatistic()
    a = _gaussian_features(generator, 5, 20, 0.0)
    b = _gaussian_features(generator, 5, 24, 1.5)
    prepared = statistic.prepare(statistic.target(b))
    assert float(statistic.loss(statistic.summary(b), prepared)) == pytest.approx(0.0, abs=1e-5)
    assert float(statistic.loss(statistic.summary(a), prepared)) == pytest.approx(_closed_form_w2(a, b), rel=1e-4)
    # A mean shift alone: |dm|^2 / mean square.
    shifted = b + 0.25
    expected = 5 * 0.25**2 / float(b.pow(2).sum(1).mean())
    assert float(statistic.loss(statistic.summary(shifted), prepared)) == pytest.approx(expected, rel=1e-3)  # fp32 moments


def test_w2_has_a_finite_gradient_at_its_target_and_with_a_rank_deficient_style():
    generator = torch.Generator().manual_seed(4)
    statistic = GaussianStatistic()
    style = torch.zeros(1, 6, 8, 8)
    style[:, :2] = torch.randn(1, 2, 8, 8, generator=generator)  # four channels never fire
    prepared = statistic.prepare(statistic.target(style))
    for start in (style.clone(), torch.rand(1, 6, 8, 8, generator=generator)):
        features = start.requires_grad_(True)
        statistic.loss(statistic.summary(features), prepared).sum().backward()
        assert torch.isfinite(features.grad).all()


def test_sliced_distance_does_not_see_where_features_sit_but_sees_how_they_spread():
    generator = torch.Generator().manual_seed(5)
    statistic = SlicedStatistic()
    style = _gaussian_features(generator, 8, 16, 0.0).float()
    prepared = statistic.prepare(statistic.target(style))
    image = _gaussian_features(generator, 8, 16, 0.5).float()
    order = torch.randperm(256, generator=generator)
    permuted = image.flatten(2)[..., order].view_as(image)
    here = statistic.loss(statistic.summary(image), prepared)
    torch.testing.assert_close(statistic.loss(statistic.summary(permuted), prepared), here, rtol=1e-6, atol=0)
    assert float(statistic.loss(statistic.summary(style), prepared)) < 1e-4 * float(here)
    # About the same mean and covariance, another distribution: W2 hardly tells them apart, sliced does.
    binary = torch.where(torch.rand(1, 2, 32, 32, generator=generator) < 0.5, -1.0, 1.0)
    gaussian = torch.randn(1, 2, 32, 32, generator=generator)
    gaussian = (gaussian - gaussian.mean((-2, -1), keepdim=True)) / gaussian.std((-2, -1), keepdim=True)
    w2 = GaussianStatistic()
    assert float(statistic.loss(statistic.summary(binary), statistic.prepare(statistic.target(gaussian)))) > 10 * float(
        w2.loss(w2.summary(binary), w2.prepare(w2.target(gaussian)))
    )


def test_each_statistic_blends_styles_as_the_mixture_of_their_features(vgg_model):
    """A 50/50 mix of two styles of one size has the targets of both images' features taken together."""
    first, second = photo("chelsea", 64), photo("coffee", 64)
    layers = ["relu1_1", "relu3_1"]
    extractor = vgg_model.extractor(layers)
    for name in ("w2", "gram"):
        statistic = statistic_for(name)
        mixed = compute_style_targets(extractor, StyleSpec([first, second], [1, 1]), layers, (64, 64), CPU, statistic=statistic)
        together = {layer: torch.cat([extractor(first)[layer], extractor(second)[layer]], -1) for layer in layers}
        for layer in layers:
            torch.testing.assert_close(mixed[layer], statistic.target(together[layer])[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("style_loss", ["w2", "sliced"])
def test_a_run_with_each_loss_lowers_it_and_moves_towards_the_style(real_vgg16, style_loss):
    content, style = photo("astronaut", 64), photo("coffee", 64)
    result = stylize(real_vgg16, content, StyleSpec([style]), RunSettings(size=64, steps=40), LossSettings(style_loss=style_loss))
    assert result.metrics.final["style"] < 0.5 * result.metrics.history[0]["style"]
    assert sliced_style_distance(real_vgg16, result.image, style) < sliced_style_distance(real_vgg16, content, style)


def test_the_rotation_search_and_regions_take_w2(vgg_model, small_images):
    content, style = small_images
    loss = LossSettings(style_loss="w2")
    found = search_rotation(vgg_model, content, StyleSpec([style]), SearchSettings(popsize=4, generations=1, proxy_size=64, proxy_steps=2), loss)
    assert found.best is not None and found.evaluations > 0
    left, right = halves(16, 16)
    run = RunSettings(size=48, steps=3, dtype="fp32")
    image = stylize(vgg_model, content, StyleSpec([style, style.flip(-1)], masks=[left, right]), run, loss).image
    assert torch.isfinite(image).all()


def test_sliced_refuses_masks_and_tiles_naming_the_style_loss(vgg_model, small_images):
    content, style = small_images
    loss = LossSettings(style_loss="sliced")
    run = RunSettings(size=48, steps=1, dtype="fp32")
    left, right = halves(16, 16)
    refusals = [
        dict(style=StyleSpec([style, style], masks=[left, right]), run=run),
        dict(style=StyleSpec([style], style_masks=[left]), run=run),
        dict(style=StyleSpec([style]), run=run, strength_map=left),
        dict(style=StyleSpec([style]), run=RunSettings(size=160, steps=1, dtype="fp32", tile=64)),
    ]
    for case in refusals:
        with pytest.raises(InputError, match=r"^style loss: .*use 'w2' or 'gram'"):
            stylize(vgg_model, content, case["style"], case["run"], loss, strength_map=case.get("strength_map"))


def test_an_unknown_style_loss_is_named():
    with pytest.raises(InputError, match=r"^style loss: 'mse' is not one of gram, w2, sliced"):
        LossSettings(style_loss="mse")
