"""Exact tiling (core/tiling.py, core/tiles.py): a tiled step is the untiled step, and a tiled image has no seams."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from nst_nodes.core.content_stats import SelfSimilarityContent
from nst_nodes.core.optimize import optimize_pixels
from nst_nodes.core.run_setup import Workload, prepare_run
from nst_nodes.core.settings import LossSettings, RunSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.style_stats import statistic_for
from nst_nodes.core.style_targets import compute_style_targets
from nst_nodes.core.tiles import TilePlan
from nst_nodes.core.tiling import TiledObjective, tiled_features
from nst_nodes.core.transfer import stylize

from helpers import content_and_stripes, photo, settings, stripes

CPU = torch.device("cpu")
LAYERS = ["relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def _gradient(objective, image: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    leaf = image.clone().requires_grad_(True)
    terms = objective.backward(leaf, lambda total: 3.0)
    return terms, leaf.grad


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("style_loss", ["gram", "w2"])
@pytest.mark.parametrize("regional", [False, True], ids=["plain", "regions"])
def test_tiled_step_has_the_untiled_loss_and_gradient(vgg_model, regional, style_loss):
    hw = (200, 264)  # not multiples of the tiles: the last row and column of tiles are narrower
    content, style = content_and_stripes(hw)
    masks = [torch.rand(1, 1, 50, 66), None] if regional else None
    spec = StyleSpec([style, stripes(90, 120, 100.0)], masks=masks)
    loss = LossSettings(tv_weight=0.5, style_loss=style_loss)
    setup = prepare_run(vgg_model, content, spec, loss, RunSettings(dtype="fp32"), CPU, Workload(hw))
    whole = setup.objective_at(setup.content)
    plan = TilePlan.exact(vgg_model.architecture, LAYERS, 64)
    assert len(plan.tiles(hw)) == 20 and plan.halo == 80
    image = torch.rand(1, 3, *hw)
    expected_terms, expected = _gradient(whole, image)
    terms, found = _gradient(TiledObjective(whole, plan), image)
    assert _relative(found, expected) <= 1e-3
    for key in ("content", "style", "tv", "total"):
        assert float(terms[key]) == pytest.approx(float(expected_terms[key]), rel=1e-5)


def test_a_tiled_self_similarity_step_is_the_untiled_one(vgg_model):
    """Each sampled position is read from the one tile whose core holds it; a tile without any adds nothing."""
    hw = (200, 264)
    content, style = content_and_stripes(hw)
    loss = LossSettings(content_loss="self-similarity", content_layers=["relu3_1", "relu4_2"])
    setup = prepare_run(vgg_model, content, StyleSpec([style]), loss, RunSettings(dtype="fp32"), CPU, Workload(hw))
    whole = dataclasses.replace(setup.objective_at(setup.content), content_measure=SelfSimilarityContent(count=200))
    assert whole.content_prepared["relu3_1"][0].shape[-1] <= 200  # sampled: relu3_1 has 50 x 66 positions
    image = torch.rand(1, 3, *hw)
    expected_terms, expected = _gradient(whole, image)
    terms, found = _gradient(TiledObjective(whole, TilePlan.exact(vgg_model.architecture, LAYERS, 64)), image)
    assert float(expected_terms["content"]) > 0
    assert _relative(found, expected) <= 1e-3
    for key in ("content", "style", "total"):
        assert float(terms[key]) == pytest.approx(float(expected_terms[key]), rel=1e-5)


def test_edge_padding_keeps_a_tiled_step_the_untiled_one(vgg_path):
    """Tiles at the image's border pad where the whole image does; inner crop edges fall in the halos."""
    from nst_nodes.core.weights import load_model

    model = load_model(vgg_path, padding="replicate")
    hw = (144, 208)
    content, style = content_and_stripes(hw)
    setup = prepare_run(model, content, StyleSpec([style]), LossSettings(), RunSettings(dtype="fp32"), CPU, Workload(hw))
    whole = setup.objective_at(setup.content)
    image = torch.rand(1, 3, *hw)
    _, expected = _gradient(whole, image)
    _, found = _gradient(TiledObjective(whole, TilePlan.exact(model.architecture, LAYERS, 64)), image)
    assert _relative(found, expected) <= 1e-3


def test_a_halo_one_stride_short_is_no_longer_exact(vgg_model):
    """The halo the rule gives is the least that is exact: the test above would see a shorter one."""
    hw = (160, 160)
    content, style = content_and_stripes(hw)
    setup = prepare_run(vgg_model, content, StyleSpec([style]), LossSettings(), RunSettings(dtype="fp32"), CPU, Workload(hw))
    whole = setup.objective_at(setup.content)
    exact = TilePlan.exact(vgg_model.architecture, LAYERS, 64)
    short = TilePlan(exact.core, exact.halo - exact.align, exact.align)
    image = torch.rand(1, 3, *hw)
    _, expected = _gradient(whole, image)
    assert _relative(_gradient(TiledObjective(whole, short), image)[1], expected) > 1e-3


@pytest.mark.parametrize("style_loss", ["gram", "w2"])
def test_tiled_targets_are_the_whole_image_targets(vgg_model, style_loss):
    hw = (176, 208)
    content, style = content_and_stripes(hw)
    plan = TilePlan.exact(vgg_model.architecture, LAYERS, 64)
    extractor = vgg_model.extractor(LAYERS)
    whole = extractor(content)
    for layer, features in tiled_features(extractor, content, LAYERS, plan).items():
        assert _relative(features, whole[layer]) < 1e-5, layer
    style_mask = torch.zeros(1, 1, 150, 130)
    style_mask[..., :, :60] = 1
    spec = StyleSpec([style], style_masks=[style_mask])
    statistic = statistic_for(style_loss)
    untiled = compute_style_targets(extractor, spec, LAYERS[1:], hw, CPU, statistic=statistic)
    tiled = compute_style_targets(extractor, spec, LAYERS[1:], hw, CPU, tiles=plan, statistic=statistic)
    for layer in LAYERS[1:]:
        assert _relative(tiled[layer], untiled[layer]) < 1e-5, layer


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / float((a - b).pow(2).mean()))


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_a_tiled_run_paints_the_untiled_image(real_vgg16, optimizer):
    """On real features; random weights make a run chaotic (a 1e-7 nudge of the content: 35 dB after 8 steps)."""
    content, style = photo("astronaut", 192)[..., :144, :], photo("coffee", 160)
    common = dict(exact=(144, 192), steps=10, optimizer=optimizer, dtype="fp32")
    whole = stylize(real_vgg16, content, StyleSpec([style]), *settings(**common))
    tiled = stylize(real_vgg16, content, StyleSpec([style]), *settings(**common, tile=96))
    assert whole.metrics.scales[-1]["tile"] is None and tiled.metrics.scales[-1]["tile"] == 96
    assert _psnr(tiled.image, whole.image) >= 40


def _line_contrast(image: torch.Tensor, borders: list[int]) -> float:
    """Largest mean |difference across a line| on a tile border, relative to the lines either side of it."""
    found = []
    for dim in (2, 3):
        length = image.shape[dim]
        jumps = (image.narrow(dim, 1, length - 1) - image.narrow(dim, 0, length - 1)).abs()
        jumps = jumps.mean(tuple(d for d in range(4) if d != dim))  # jumps[i]: between lines i and i+1
        found += [float(jumps[b - 1] / ((jumps[b - 3] + jumps[b + 1]) / 2)) for b in borders]
    return max(found)


def _band_contrast(image: torch.Tensor, borders: list[int], width: int = 4, gap: int = 8) -> float:
    """How far the mean colour of a band of lines on the tile borders is from the bands `gap` px either side,
    relative to the same distance at a typical line of the image (rows and columns; the larger).

    A tile without halos paints its edges like an image's edges: a band of other colours, not a sharp line.
    """
    found = []
    for dim in (2, 3):
        profile = image[0].mean(dim=4 - dim)  # [3, lines]: each row's (or column's) mean colour
        band = lambda line: profile[:, line - width // 2 : line + width // 2].mean(1)  # noqa: E731
        off = lambda line: float((band(line) - (band(line - gap) + band(line + gap)) / 2).norm())  # noqa: E731
        typical = torch.tensor([off(line) for line in range(gap + width, profile.shape[1] - gap - width)]).median()
        found.append(sum(off(b) for b in borders) / len(borders) / float(typical))
    return max(found)


def test_a_tiled_result_has_no_seams_and_the_checks_see_them(real_vgg16):
    """Tile borders stand out no more than other lines; tiling without halos (or short ones) shows them.

    A flat grey content, so that style texture fills the whole image and
    any structure along the borders stands out; layers up to relu3_1 keep
    the halos short and allow 16 tiles at little cost.
    """
    hw = (256, 256)
    loss = LossSettings(content_layers=["relu3_1"], style_layers=["relu1_1", "relu2_1", "relu3_1"], content_weight=0.1)
    setup = prepare_run(real_vgg16, torch.full((1, 3, *hw), 0.5), StyleSpec([photo("coffee", 256)]), loss, RunSettings(dtype="fp32"), CPU, Workload(hw))
    whole = setup.objective_at(setup.content)
    exact = TilePlan.exact(real_vgg16.architecture, whole.extractor.layers, 64)
    borders = sorted({tile.core_rows[0] for tile in exact.tiles(hw)} - {0})
    assert borders == [64, 128, 192]
    init = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(0))
    for name, plan in {"exact": exact, "no halo": TilePlan(exact.core, 0, exact.align),
                       "a third of the halo": TilePlan(exact.core, exact.halo // 3, exact.align)}.items():  # fmt: skip
        image = optimize_pixels(TiledObjective(whole, plan), init, 20, lr=0.05).image
        assert _line_contrast(image, borders) < 1.5, name
        assert (_band_contrast(image, borders) < 1.5) == (name == "exact"), name
