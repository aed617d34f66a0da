"""core/temporal.py: the temporal term, alone and joined to whole and tiled objectives."""

from __future__ import annotations

import torch

from nst_nodes.core.settings import LossSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.temporal import TemporalObjective, TemporalTarget
from nst_nodes.core.tiles import TilePlan
from nst_nodes.core.tiling import TiledObjective
from nst_nodes.core.transfer import stylize

from helpers import objective_for, settings

LOSS = LossSettings(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"))


def _target(hw=(32, 40), weight=2.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, *hw, generator=generator)
    mask = torch.zeros(1, 1, *hw)
    mask[..., :, : hw[1] // 2] = 1
    return TemporalTarget(image=image, mask=mask, weight=weight)


def test_the_term_is_the_mean_square_over_the_reliable_pixels_times_the_weight():
    target = _target()
    objective = TemporalObjective(inner=lambda image: {"total": image.new_zeros(1)}, target=target)
    assert float(objective.term(target.image)) == 0
    changed = target.image.clone()
    changed[..., :, 20:] = 0  # only unreliable pixels differ
    assert float(objective.term(changed)) == 0
    shifted = target.image + 0.1
    assert abs(float(objective.term(shifted)) - 2.0 * 0.01) < 1e-6


def test_it_joins_the_total_and_its_gradient_stays_in_the_mask(vgg_model, small_images):
    content, style = small_images
    extractor = vgg_model.extractor(LOSS.layers_needed(), torch.device("cpu"))
    inner = objective_for(extractor, content, StyleSpec([style]), LOSS)
    target = _target(tuple(content.shape[-2:]))
    joined = TemporalObjective(inner, target)
    image = content.clone().requires_grad_(True)
    terms = joined.backward(image, lambda total: 1.0)
    alone = inner(content)
    assert torch.allclose(terms["total"], alone["total"] + terms["temporal"])
    pull = TemporalObjective(lambda x: {"total": x.new_zeros(1)}, target)
    only = content.clone().requires_grad_(True)
    pull.term(only).sum().backward()
    assert float(only.grad[..., :, content.shape[-1] // 2 :].abs().max()) == 0
    assert float(only.grad[..., :, : content.shape[-1] // 2].abs().max()) > 0


def test_a_tiled_objective_with_the_term_has_the_whole_ones_gradient(vgg_model, small_images):
    content, style = small_images
    extractor = vgg_model.extractor(LOSS.layers_needed(), torch.device("cpu"))
    inner = objective_for(extractor, content, StyleSpec([style]), LOSS)
    tiles = TilePlan.exact(extractor.architecture, extractor.layers, 16)
    target = _target(tuple(content.shape[-2:]))
    grads = []
    for objective in (TemporalObjective(inner, target), TemporalObjective(TiledObjective(inner, tiles), target)):
        image = (content * 0.9).requires_grad_(True)
        objective.backward(image, lambda total: 1.0)
        grads.append(image.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-5, rtol=1e-3)


def test_stylize_pulls_towards_the_target_and_reports_the_term(vgg_model, small_images):
    content, style = small_images
    run, loss = settings(size=64, steps=20, content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"))
    target = _target(tuple(run.output_hw(tuple(content.shape[-2:]))), weight=100.0)
    free = stylize(vgg_model, content, StyleSpec([style]), run, loss)
    held = stylize(vgg_model, content, StyleSpec([style]), run, loss, temporal=target)
    assert "temporal" in held.metrics.final and "temporal" not in free.metrics.final
    inside = target.mask.bool().expand_as(target.image)
    distance = lambda image: float((image - target.image)[inside].pow(2).mean())  # noqa: E731
    assert distance(held.image) < 0.5 * distance(free.image)
