"""Optimize (nodes/optimize.py), called as ComfyUI calls it: batches, progress and previews, tiles, masks, memory, Cancel.

These tests call `execute` the way ComfyUI does (under torch.inference_mode,
with IMAGE tensors made there), with ComfyUI 0.3.75's source on sys.path and
no server, and watch ComfyUI's progress hook. They do not replace
tests/comfy/test_nodes.py, which runs the pack inside a real server.
"""

from __future__ import annotations

import json

import pytest
import torch

from nst_nodes.core.errors import InputError

from helpers import comfy_image, comfy_mask, loss_config, plain_style, run_optimize


def test_optimize_batch_gives_one_result_each_with_progress_and_previews(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(2, 3, 36, 48, generator=torch.Generator().manual_seed(1)))
    before = content.clone()
    image, plot, metrics = run_optimize(comfy, vgg_model, content, plain_style(), size=48)
    assert image.shape == (2, 36, 48, 3) and image.device.type == "cpu"
    assert plot.shape == (2, 320, 512, 3)
    runs = json.loads(metrics)
    assert [run["steps"] for run in runs] == [2, 2] and runs[0]["size"] == [36, 48]
    assert torch.equal(content, before)  # ComfyUI's tensor untouched
    assert [event[:2] for event in progress_events] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for _, _, preview in progress_events:
        kind, picture, max_side = preview
        assert kind == "JPEG" and picture.size == (48, 36) and max_side == 48  # not enlarged


def test_optimize_single_image_metrics_match_the_cli_format(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(1, 3, 36, 36))
    _, _, metrics = run_optimize(comfy, vgg_model, content, plain_style(), preview_interval=0, optimizer="lbfgs")
    data = json.loads(metrics)
    assert {"steps", "seconds", "seconds_per_step", "device", "size", "final", "history", "params"} <= set(data)
    assert data["params"]["optimizer"] == "lbfgs" and data["params"]["lr"] == 1.0
    assert all(preview is None for _, _, preview in progress_events)


def test_optimize_tiles_when_asked_and_names_a_bad_tile(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(1, 3, 80, 80))
    _, _, metrics = run_optimize(comfy, vgg_model, content, plain_style(), size=80, tile=64, preview_interval=0)
    data = json.loads(metrics)
    assert data["params"]["tile"] == 64 and data["scales"][-1]["tile"] == 64
    with pytest.raises(InputError, match="tile: 48 px is smaller than 64 px"):
        run_optimize(comfy, vgg_model, content, plain_style(), size=80, tile=48)


def test_optimize_uses_loss_and_init_image(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(2, 3, 32, 32))
    loss = loss_config(comfy, style_layers="relu1_1", content_layers="relu2_1")
    init = comfy_image(torch.zeros(1, 3, 32, 32))
    init_before = init.clone()
    _, _, metrics = run_optimize(comfy, vgg_model, content, plain_style(), loss=loss, init_image=init)
    assert torch.equal(init, init_before)
    params = json.loads(metrics)[0]["params"]
    assert params["style_layers"] == ["relu1_1"] and params["content_layers"] == ["relu2_1"] and params["init"] == "image"


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"learning_rate": -1.0}, r"^learning_rate: -1.0 must be a positive finite number"),
        ({"size": 8}, r"^size: 8 px is out of range"),
        ({"steps": 0}, r"^steps: 0 is out of range"),
        ({"loss": "nonsense"}, r"^loss: connect the output of Content/Style Loss"),
        ({"init_image": "three"}, r"^init_image: a batch of 3 images for 2 content images"),
    ],
)
def test_optimize_refuses_bad_values_by_input_name(comfy, vgg_model, inputs, message):
    content = comfy_image(torch.rand(2, 3, 32, 32))
    if inputs.get("init_image") == "three":
        inputs["init_image"] = comfy_image(torch.rand(3, 3, 32, 32))
    with pytest.raises(InputError, match=message):
        run_optimize(comfy, vgg_model, content, plain_style(), **inputs)


def test_optimize_strength_map_of_zeros_keeps_the_content(comfy, vgg_model, progress_events):
    content = comfy_image(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4)))
    black = comfy_mask(torch.zeros(1, 16, 16))  # any size: resized to the result
    image, _, metrics = run_optimize(comfy, vgg_model, content, plain_style(), size=32, steps=3, strength_map=black)
    assert torch.allclose(image, content, atol=1e-6)
    assert json.loads(metrics)["params"]["strength_map"] is True
    styled, _, _ = run_optimize(comfy, vgg_model, content, plain_style(), size=32, steps=3)
    assert not torch.allclose(styled, content, atol=1e-3)  # without the map the same run does change it


def test_optimize_pairs_strength_maps_with_the_content_batch(comfy, vgg_model, monkeypatch, progress_events):
    calls = []
    real_stylize = comfy.optimize.stylize

    def recording_stylize(*args, **kwargs):
        calls.append(kwargs["strength_map"])
        return real_stylize(*args, **kwargs)

    monkeypatch.setattr(comfy.optimize, "stylize", recording_stylize)
    content = comfy_image(torch.rand(2, 3, 32, 32))
    maps = comfy_mask(torch.stack([torch.full((8, 8), 0.25), torch.full((8, 8), 0.75)]))
    run_optimize(comfy, vgg_model, content, plain_style(), steps=1, strength_map=maps)
    assert [float(m.mean()) for m in calls] == [0.25, 0.75] and all(m.shape == (1, 1, 8, 8) for m in calls)
    calls.clear()
    run_optimize(comfy, vgg_model, content, plain_style(), steps=1, strength_map=maps[:1])
    assert [float(m.mean()) for m in calls] == [0.25, 0.25]  # one map for every content image
    calls.clear()
    run_optimize(comfy, vgg_model, content, plain_style(), steps=1)
    assert calls == [None, None]


@pytest.mark.parametrize(
    "strength_map, message",
    [
        (torch.rand(3, 16, 16), r"^strength_map: a batch of 3 masks for 2 content images"),
        (torch.full((1, 16, 16), -0.5), r"^strength_map: mask values must lie in \[0, 1\]"),
        (torch.rand(16), r"^strength_map: expected a MASK \[B, H, W\], got \(16,\)"),
    ],
)
def test_optimize_refuses_bad_strength_map_by_input_name(comfy, vgg_model, strength_map, message):
    content = comfy_image(torch.rand(2, 3, 32, 32))
    with pytest.raises(InputError, match=message):
        run_optimize(comfy, vgg_model, content, plain_style(), strength_map=comfy_mask(strength_map))


def test_optimize_asks_comfyui_to_make_room_on_a_gpu(comfy, vgg_model, monkeypatch, progress_events):
    freed = []
    monkeypatch.setattr(comfy.mm, "free_memory", lambda need, device, keep_loaded=(): freed.append((need, device)))
    comfy.runtime.make_room(10, torch.device("cpu"))
    assert freed == []  # ComfyUI's CPU models are left alone
    comfy.runtime.make_room(123, torch.device("cuda", 0))
    assert freed == [(123, torch.device("cuda", 0))]
    asked = []
    monkeypatch.setattr(comfy.runtime, "make_room", lambda need, device: asked.append((need, device)))
    run_optimize(comfy, vgg_model, comfy_image(torch.rand(1, 3, 32, 32)), plain_style(), optimizer="lbfgs")
    ((need, device),) = asked
    assert device == torch.device("cpu") and need > 80 * 2**20  # at least VGG19's weights


def test_optimize_stops_with_comfyui_interrupt(comfy, vgg_model, progress_events):
    """A Cancel raises ComfyUI's own exception, so the prompt is recorded as interrupted."""
    comfy.mm.interrupt_current_processing(True)
    with pytest.raises(comfy.mm.InterruptProcessingException):
        run_optimize(comfy, vgg_model, comfy_image(torch.rand(1, 3, 32, 32)), plain_style(), steps=50)
    assert not comfy.mm.processing_interrupted()  # the flag is consumed, the next prompt runs
    assert progress_events == []


def test_the_average_input_reaches_the_run_and_is_named_when_bad(comfy):
    chosen = dict(steps=2, optimizer="adam", learning_rate=0.0, size=64, init="content", preserve_color="none", seed=0,
                  dtype="auto", scales="auto", tile=0)  # fmt: skip
    assert comfy.optimize.run_settings(**chosen, average=0.9).average == 0.9
    with pytest.raises(InputError, match=r"^average: 1.5 is not in \[0, 1\)"):
        comfy.optimize.run_settings(**chosen, average=1.5)
