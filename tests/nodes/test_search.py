"""Rotation DE Search (nodes/search.py): its outputs, refusals, Cancel and region, and its best style fed to Optimize."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from nst_nodes.core.errors import InputError

from helpers import comfy_image, plain_style, run_optimize, style_mix


SEARCH_INPUTS = {
    "rotations": 1, "objective": "fit", "angle_min": 0.0, "angle_max": 360.0, "popsize": 4, "generations": 1,
    "proxy_size": 32, "proxy_steps": 1, "top_k": 2, "seed": 0, "search_rotation_weight": False,
    "rotation_weight": 1.0, "search_fusion_weights": False, "search_mix_weights": False,
    "min_separation": 15.0, "epsilon": 0.1,
}  # fmt: skip


def test_search_outputs_best_style_previews_report_and_list(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(2)))
    style = plain_style(seed=3)
    with torch.inference_mode():
        best, previews, report, top_k = comfy.search.RotationDESearch.execute(
            vgg=vgg_model, content=content, style=style, **SEARCH_INPUTS
        )
    data = json.loads(report)
    assert data["settings"]["popsize"] == 4 and data["settings"]["angle_range"] == [0.0, 360.0]
    assert best.rotation is not None and best.rotation.angles == data["best"]["angles"]
    assert style.rotation is None
    assert len(top_k) == len(data["top_k"]) == previews.shape[0] and 1 <= len(top_k) <= 2
    assert [s.rotation.angles for s in top_k] == [c["angles"] for c in data["top_k"]]
    assert previews.shape[1:] == (32, 32, 3)
    assert progress_events and all(preview is not None for _, _, preview in progress_events[:-1])
    assert progress_events[-1][:2] == (1, 1)


def test_search_refuses_reversed_bounds_and_batches(comfy, vgg_model):
    content = comfy_image(torch.rand(1, 3, 32, 32))
    with pytest.raises(InputError, match=r"^angle_min, angle_max: the bounds are reversed"):
        comfy.search.RotationDESearch.execute(
            vgg=vgg_model, content=content, style=plain_style(), **{**SEARCH_INPUTS, "angle_min": 90.0, "angle_max": 10.0}
        )
    with pytest.raises(InputError, match=r"^content: got a batch of 2 images"):
        comfy.search.RotationDESearch.execute(
            vgg=vgg_model, content=comfy_image(torch.rand(2, 3, 32, 32)), style=plain_style(), **SEARCH_INPUTS
        )


def test_search_stops_with_comfyui_interrupt(comfy, vgg_model, progress_events):
    comfy.mm.interrupt_current_processing(True)
    with pytest.raises(comfy.mm.InterruptProcessingException), torch.inference_mode():
        comfy.search.RotationDESearch.execute(
            vgg=vgg_model, content=comfy_image(torch.rand(1, 3, 32, 32)), style=plain_style(), **SEARCH_INPUTS
        )
    assert not comfy.mm.processing_interrupted()


def test_search_result_feeds_optimize(comfy, vgg_model, progress_events):
    """The seed's flow: search, then render with the best rotation."""
    content = comfy_image(torch.rand(1, 3, 32, 32))
    with torch.inference_mode():
        best = comfy.search.RotationDESearch.execute(vgg=vgg_model, content=content, style=plain_style(), **SEARCH_INPUTS)[0]
    _, _, metrics = run_optimize(comfy, vgg_model, content, best)
    assert json.loads(metrics)["params"]["style_rotation"] == dataclasses.asdict(best.rotation)


def test_search_region_turns_only_that_style(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(2)))
    style = style_mix(comfy, style_1=comfy_image(torch.rand(1, 3, 32, 32)), style_2=comfy_image(torch.rand(1, 3, 32, 32)))
    with torch.inference_mode():
        best, _, report, _ = comfy.search.RotationDESearch.execute(
            vgg=vgg_model, content=content, style=style, **SEARCH_INPUTS, region=2
        )
    assert best.rotation_per_style[0] is None and best.rotation_per_style[1].angles == json.loads(report)["best"]["angles"]
    assert json.loads(report)["region"] == 2
