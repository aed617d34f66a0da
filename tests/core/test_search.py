"""The Differential Evolution search over style rotations (core/search.py): it finds a known answer, batches, reproduces, stops."""

from __future__ import annotations

import json
import random

import pytest
import torch

import nst_nodes.core.search as search_module
from nst_nodes.core.errors import InputError, StopRequested
from nst_nodes.core.rotation import RotationSpec
from nst_nodes.core.search import Candidate, angle_separation, search_rotation, select_distinct
from nst_nodes.core.settings import LossSettings, RunSettings, SearchSettings
from nst_nodes.core.style import StyleSpec

from helpers import halves, stripes


# Orientation is what relu2_1 and relu3_1 tell apart: their Grams come from oriented filters over
# neighbourhoods wider than a stripe edge. relu1_1's Gram is dominated by the colours and by the
# exact edge profile, which resampling a turned image changes, so it only adds noise to the ranking.
# The content weight is small next to the style weight: the fitness is the style agreement.
ORIENTATION_LOSS = LossSettings(content_layers=("relu3_1",), style_layers=("relu2_1", "relu3_1"), style_weight=1.0)
CHEAP_LOSS = LossSettings(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), style_weight=1.0)
TINY = dict(proxy_size=32, proxy_steps=2, popsize=4, generations=2)


@pytest.fixture(scope="module")
def small():
    return stripes(40, 40, 0.0, seed=1), StyleSpec([stripes(40, 40, 50.0, seed=2)])


@pytest.mark.parametrize("style_angle", [60.0, 120.0])
def test_fit_recovers_the_orientation_of_the_content(vgg_model, style_angle):
    """Ground truth: turning stripes at `style_angle` by a gives stripes at style_angle + a (counter-clockwise),
    parallel to the content's horizontal stripes when style_angle + a is a multiple of 180."""
    # 72 px sources with a 6 px period, seen at 48 px: antialiased edges, so the ranking is smooth in the angle
    # (binary stripes seen pixel for pixel alias differently at each angle, which makes the ranking jagged).
    content = stripes(72, 72, 0.0, period=6.0, seed=3)
    style = StyleSpec([stripes(72, 72, style_angle, period=6.0, seed=3)])
    settings = SearchSettings(proxy_size=48, proxy_steps=3, popsize=8, generations=8, seed=0)
    result = search_rotation(vgg_model, content, style, settings, ORIENTATION_LOSS)
    found = result.best.angles[0]
    misalignment = (style_angle + found + 90.0) % 180.0 - 90.0
    assert abs(misalignment) <= 10.0, (found, result.history)
    assert 0.0 <= found <= 360.0


def test_same_seed_same_result_and_one_batch_per_generation(vgg_model, small, monkeypatch):
    content, style = small
    batches: list[int] = []
    real = search_module.optimize_pixels

    def counting(objective, init, *args, **kwargs):
        batches.append(init.shape[0])
        return real(objective, init, *args, **kwargs)

    monkeypatch.setattr(search_module, "optimize_pixels", counting)
    settings = SearchSettings(rotations=2, seed=5, **TINY)
    first = search_rotation(vgg_model, content, style, settings, CHEAP_LOSS)
    first_batches = list(batches)
    again = search_rotation(vgg_model, content, style, settings, CHEAP_LOSS)
    other = search_rotation(vgg_model, content, style, SearchSettings(rotations=2, seed=6, **TINY), CHEAP_LOSS)

    assert first.best.angles == again.best.angles and first.best_fitness == again.best_fitness
    assert first.history == again.history
    assert other.best.angles != first.best.angles
    # One proxy batch per generation plus the initial population, each of scipy's size: popsize * 2 angles.
    assert len(first_batches) == first.generations + 1 == len(first.history)
    assert first_batches == [8] * len(first_batches)
    assert first.evaluations == sum(first_batches)


def test_progress_history_and_stop(vgg_model, small):
    content, style = small
    seen = []

    def on_generation(info):
        seen.append(info)

    result = search_rotation(
        vgg_model, content, style, SearchSettings(**{**TINY, "generations": 3}), CHEAP_LOSS,
        on_generation=on_generation,
    )  # fmt: skip
    assert [info.generation for info in seen] == list(range(1, result.generations + 1))
    assert all(info.total == 3 for info in seen)
    assert seen[-1].best_fitness == result.best_fitness and seen[-1].best == result.best
    assert seen[-1].preview().shape == (1, 3, 32, 32)
    assert all(later <= earlier for earlier, later in zip(result.history, result.history[1:]))
    assert result.best_fitness == min(result.history)

    stops = []
    with pytest.raises(StopRequested, match="after generation 1"):
        search_rotation(
            vgg_model, content, style, SearchSettings(**TINY), CHEAP_LOSS,
            on_generation=stops.append, should_stop=lambda: bool(stops),
        )  # fmt: skip
    with pytest.raises(StopRequested, match="step 0"):
        search_rotation(vgg_model, content, style, SearchSettings(**TINY), CHEAP_LOSS, should_stop=lambda: True)


def test_diverse_with_every_weight_searched(vgg_model):
    content = stripes(40, 40, 0.0, seed=1)
    style = StyleSpec([stripes(40, 40, 30.0, seed=2), stripes(40, 40, 100.0, seed=4)], [1, 1])
    settings = SearchSettings(
        rotations=2, objective="diverse", search_rotation_weight=True, search_fusion_weights=True,
        search_mix_weights=True, popsize=4, generations=1, proxy_size=32, proxy_steps=2, top_k=3,
    )  # fmt: skip
    result = search_rotation(vgg_model, content, style, settings, CHEAP_LOSS)
    assert result.evaluations == 2 * 4 * 7  # two batches of popsize * (2 angles + rho + 2 fusion + 2 mix)
    # A feasible candidate (style loss within 1 + epsilon of the unrotated run's) scores minus its distance.
    assert result.best_fitness < 0
    for candidate in result.top_k:
        assert 0.0 <= candidate.rotation.rho <= 1.0 and len(candidate.rotation.angles) == 2
        assert sum(candidate.rotation.weights) == pytest.approx(1.0)
        assert len(candidate.mix_weights) == 2 and sum(candidate.mix_weights) == pytest.approx(1.0)
    report = json.loads(json.dumps(result.to_report()))
    assert {"best", "history", "evaluations", "seconds", "top_k"} <= set(report)
    assert {"angles", "rotation_weight", "fusion_weights", "fitness", "mix_weights"} <= set(report["best"])
    assert report["best"]["angles"] == result.best.angles and len(report["top_k"]) == len(result.top_k)
    applied = result.apply(style, rank=len(result.top_k) - 1)
    assert applied.rotation == result.top_k[-1].rotation
    assert applied.mix_weights == pytest.approx(result.top_k[-1].mix_weights)
    assert style.rotation is None and style.mix_weights == [0.5, 0.5]
    with pytest.raises(InputError, match="rank"):
        result.apply(style, rank=len(result.top_k))


def test_angle_separation_properties():
    rng = random.Random(0)
    for _ in range(500):
        first = [rng.uniform(-360, 360) for _ in range(rng.randint(1, 3))]
        second = [rng.uniform(-360, 360) for _ in range(rng.randint(1, 3))]
        distance = angle_separation(first, second)
        assert 0.0 <= distance <= 180.0
        assert distance == pytest.approx(angle_separation(second, first))
        assert distance == pytest.approx(angle_separation(first, [a + 360.0 for a in reversed(second)]))
        assert angle_separation(first, list(reversed(first))) == 0.0
    assert angle_separation([350.0], [10.0]) == pytest.approx(20.0)
    assert angle_separation([0.0, 90.0], [0.0]) == pytest.approx(90.0)


def test_select_distinct_properties():
    rng = random.Random(1)
    for _ in range(100):
        pool = [
            Candidate(RotationSpec([rng.uniform(0, 360)]), rng.uniform(0, 1), None, torch.zeros(1, 3, 1, 1))
            for _ in range(rng.randint(1, 30))
        ]
        count, gap = rng.randint(1, 5), rng.uniform(0, 90)
        kept = select_distinct(pool, count, gap)
        assert kept[0].fitness == min(c.fitness for c in pool)
        assert [c.fitness for c in kept] == sorted(c.fitness for c in kept) and len(kept) <= count
        for i, a in enumerate(kept):
            for b in kept[i + 1 :]:
                assert angle_separation(a.rotation.angles, b.rotation.angles) >= gap
        if len(kept) < count:  # nothing left out that could have been kept
            for candidate in pool:
                assert any(angle_separation(candidate.rotation.angles, k.rotation.angles) < gap for k in kept)


def test_bad_inputs_refused_before_any_work(vgg_model, small):
    content, style = small
    with pytest.raises(InputError, match="proxy size"):
        search_rotation(vgg_model, torch.rand(1, 3, 20, 200), style, SearchSettings(**TINY), CHEAP_LOSS)
    with pytest.raises(InputError, match="style weight"):
        search_rotation(vgg_model, content, style, SearchSettings(**TINY), LossSettings(style_weight=0))
    with pytest.raises(InputError, match="content"):
        search_rotation(vgg_model, torch.rand(2, 3, 40, 40), style, SearchSettings(**TINY), CHEAP_LOSS)


def test_the_search_can_turn_one_region_only(vgg_model, small_images):
    content, style = small_images
    left, right = halves(8, 8)
    fixed = RotationSpec([90.0])
    spec = StyleSpec([style, stripes(48, 48, 70.0, seed=4)], masks=[left, right]).with_rotation(fixed, 1)
    found = search_rotation(vgg_model, torch.rand(1, 3, 64, 64), spec, SearchSettings(popsize=4, generations=1, proxy_size=32, proxy_steps=2, region=1))
    best = found.apply(spec)
    assert best.rotation_per_style[0] == found.best and best.rotation_per_style[1] == fixed  # only style 1 took the candidate
    assert found.to_report()["region"] == 1
    with pytest.raises(InputError, match="^region: 3 is not one of the recipe's 2 style"):
        search_rotation(vgg_model, content, spec, SearchSettings(region=3))
    with pytest.raises(InputError, match="^region: -1 is out of range"):
        SearchSettings(region=-1)


def test_the_proxy_sees_what_the_render_will(vgg_model, small):
    """The render's settings reach the proxy runs: their result's aspect and their arithmetic."""
    content, style = small
    settings = SearchSettings(**{**TINY, "generations": 1, "proxy_size": 48, "top_k": 1})
    square = search_rotation(vgg_model, content, style, settings, CHEAP_LOSS)
    tall = search_rotation(vgg_model, content, style, settings, CHEAP_LOSS, render=RunSettings(exact=(96, 64)))
    assert square.top_k[0].image.shape[-2:] == (48, 48) and tall.top_k[0].image.shape[-2:] == (48, 32)
    with pytest.raises(InputError, match="^dtype: fp16 is a GPU format"):
        search_rotation(vgg_model, content, style, settings, CHEAP_LOSS, render=RunSettings(dtype="fp16"))
