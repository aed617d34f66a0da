"""What a content loss compares (core/content_stats.py): mse and the sampled self-similarity."""

from __future__ import annotations

import pytest
import torch

from nst_nodes.core.content_stats import (
    MseContent,
    SelfSimilarityContent,
    content_measure_for,
    sampled_positions,
    self_similarity,
)
from nst_nodes.core.errors import InputError
from nst_nodes.core.objective import content_features
from nst_nodes.core.search import search_rotation
from nst_nodes.core.settings import LossSettings, RunSettings, SearchSettings
from nst_nodes.core.style import StyleSpec
from nst_nodes.core.transfer import stylize

from helpers import objective_for, photo

CPU = torch.device("cpu")


def _loss(measure, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    prepared = measure.prepare(target)
    return measure.loss(measure.summary(features, prepared), prepared)


def test_self_similarity_is_zero_at_the_content_and_grows_as_its_layout_changes(real_vgg16):
    content = photo("astronaut", 96)
    extractor = real_vgg16.extractor(["relu4_2"], CPU)
    target = content_features(extractor, content, ["relu4_2"], CPU)["relu4_2"]
    measure = SelfSimilarityContent()
    at_content = _loss(measure, extractor(content)["relu4_2"], target)
    rolled = _loss(measure, extractor(torch.roll(content, 12, -1))["relu4_2"], target)
    flipped = _loss(measure, extractor(content.flip(-1))["relu4_2"], target)
    assert float(at_content) == 0.0
    assert 0.3 < float(rolled) < float(flipped)


def test_self_similarity_ignores_a_shift_and_a_gain_common_to_every_position():
    """What a colour cast and a brightness change do to a linear layer: every position's vector moved and scaled alike."""
    generator = torch.Generator().manual_seed(1)
    target = torch.rand(1, 16, 20, 24, generator=generator)
    cast = torch.rand(1, 16, 1, 1, generator=generator)
    shifted = 1.7 * target + cast
    assert float(_loss(SelfSimilarityContent(), shifted, target)) < 1e-9
    assert float(_loss(MseContent(), shifted, target)) > 0.5  # mse holds every feature where it was
    moved = torch.roll(target, 5, -1)
    assert float(_loss(SelfSimilarityContent(), moved, target)) > 0.5


def test_sampled_positions_are_bounded_spread_and_the_same_every_time():
    rows, cols = sampled_positions(128, 96, 1024)
    assert rows.numel() <= 1024 and rows.numel() > 900
    assert torch.equal(rows, sampled_positions(128, 96, 1024)[0])
    assert len(set(zip(rows.tolist(), cols.tolist()))) == rows.numel()
    assert 0 <= rows.min() and rows.max() < 128 and 0 <= cols.min() and cols.max() < 96
    blocks = {(r // 16, c // 16) for r, c in zip(rows.tolist(), cols.tolist())}
    assert len(blocks) == (128 // 16) * (96 // 16)  # every 16 x 16 block is watched: no hole
    small_rows, small_cols = sampled_positions(20, 30, 1024)
    assert small_rows.numel() == 600  # a small layer is taken whole


def test_self_similarity_columns_sum_to_one():
    matrix = self_similarity(torch.rand(2, 50, 8))
    assert matrix.shape == (2, 50, 50)
    torch.testing.assert_close(matrix.sum(1), torch.ones(2, 50))


def test_a_self_similarity_run_keeps_the_layout_and_moves_towards_the_style(real_vgg16):
    from nst_nodes.core.quality import structure_score, style_distance

    content, style = photo("astronaut", 64), photo("coffee", 64)
    run = RunSettings(size=64, steps=40)
    result = stylize(real_vgg16, content, StyleSpec([style]), run, LossSettings(content_loss="self-similarity"))
    assert result.metrics.final["total"] < result.metrics.history[0]["total"] and result.metrics.final["content"] > 0
    assert style_distance(real_vgg16, result.image, style) < style_distance(real_vgg16, content, style)
    assert structure_score(result.image, content) > 0.5


def test_the_content_loss_setting_is_checked_and_named():
    assert isinstance(content_measure_for(LossSettings().content_loss), MseContent)  # README: the default
    assert isinstance(content_measure_for("self-similarity"), SelfSimilarityContent)
    with pytest.raises(InputError, match=r"^content loss: 'gram' is not one of mse, self-similarity"):
        LossSettings(content_loss="gram")



def test_a_batch_is_judged_image_by_image_as_the_rotation_search_needs(vgg_model, small_images):
    content, style = small_images
    loss = LossSettings(content_loss="self-similarity")
    objective = objective_for(vgg_model.extractor(loss.layers_needed(), CPU), content, StyleSpec([style]), loss)
    images = torch.rand(3, 3, *content.shape[-2:], generator=torch.Generator().manual_seed(2))
    batched = objective(images)["content"]
    alone = torch.cat([objective(images[i : i + 1])["content"] for i in range(3)])
    torch.testing.assert_close(batched, alone, rtol=1e-4, atol=1e-7)
    assert float(batched.min()) > 0
    found = search_rotation(vgg_model, content, StyleSpec([style]), SearchSettings(popsize=4, generations=1, proxy_size=64, proxy_steps=2), loss)
    assert found.best is not None and found.evaluations > 0
