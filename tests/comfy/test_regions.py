"""Regional styles in a real ComfyUI 0.3.75 server: Style Mix's mask_n and Optimize's strength_map fed by core nodes.

The bundled regional_styles workflow itself runs in tests/comfy/test_nodes.py
(every workflow of workflows/ does, and its UI file is checked against its
API twin there); bad mask values are tested on the nodes directly in
tests/nodes/test_style.py. Here: masks that come from ComfyUI's own LoadImage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from comfy_harness import ComfyServer

from nst_comfy import API_WORKFLOWS, TEST_SIZE, UI_WORKFLOWS, WORKFLOWS, execution_error, load_api, nodes_of, nst_server, shrink

REGIONAL = WORKFLOWS / "api" / "regional_styles.json"


@pytest.fixture(scope="module")
def server(comfy_server_factory, tmp_path_factory) -> ComfyServer:
    return nst_server(comfy_server_factory, tmp_path_factory)


def _source(prompt: dict[str, Any], node_id: str, name: str) -> str:
    return prompt[prompt[node_id]["inputs"][name][0]]["class_type"]


def test_regional_styles_workflow_is_bundled_and_needs_no_upload():
    assert REGIONAL in API_WORKFLOWS and WORKFLOWS / "regional_styles.json" in UI_WORKFLOWS  # so every workflow test runs it
    prompt = load_api(REGIONAL)
    assert not nodes_of(prompt, "LoadImage")
    (mix,) = nodes_of(prompt, "NST_StyleMix")
    assert _source(prompt, mix, "mask_2") == "MaskComposite" and _source(prompt, mix, "mask_1") == "InvertMask"
    (invert,) = nodes_of(prompt, "InvertMask")
    assert prompt[invert]["inputs"]["mask"] == prompt[mix]["inputs"]["mask_2"]  # the two halves are complements
    samples = {prompt[prompt[mix]["inputs"][s][0]]["inputs"]["sample"] for s in ("style_1", "style_2")}
    assert samples == {"style_waves.png", "style_mosaic.png"}


def _with_loaded_mask(server: ComfyServer, picture: Image.Image, path: Path) -> dict[str, Any]:
    """The shrunk regional workflow with mask_2 taken from LoadImage's MASK (slot 1) of `picture`, uploaded."""
    picture.save(path)
    prompt = shrink(load_api(REGIONAL))
    (mix,) = nodes_of(prompt, "NST_StyleMix")
    prompt["20"] = {"class_type": "LoadImage", "inputs": {"image": server.api.upload(path)}}
    prompt[mix]["inputs"]["mask_2"] = ["20", 1]
    return prompt


def test_load_image_alpha_mask_and_a_strength_map_run(server: ComfyServer, tmp_path: Path):
    picture = Image.new("RGBA", (48, 32), (200, 120, 40, 255))
    picture.paste((0, 0, 0, 0), (24, 0, 48, 32))  # right half transparent: LoadImage's mask (1 - alpha) is white there
    prompt = _with_loaded_mask(server, picture, tmp_path / "right_half.png")
    (optimize,) = nodes_of(prompt, "NST_Optimize")
    prompt["21"] = {"class_type": "SolidMask", "inputs": {"value": 0.75, "width": 16, "height": 16}}
    prompt[optimize]["inputs"]["strength_map"] = ["21", 0]
    run = server.run_prompt(prompt, timeout=600)
    assert run.status == "success", run.messages("execution_error")
    (saved,) = nodes_of(prompt, "SaveImage")
    (result,) = run.history["outputs"][saved]["images"]
    assert result["type"] == "output" and result["filename"].startswith("regional_styles")
    (metrics,) = nodes_of(prompt, "PreviewAny")
    data = json.loads(run.history["outputs"][metrics]["text"][0])
    assert data["size"] == [TEST_SIZE, TEST_SIZE]
    assert data["params"]["style_masks"] == [True, True] and data["params"]["strength_map"] is True


def test_load_image_mask_of_an_opaque_picture_is_refused_naming_the_input(server: ComfyServer, tmp_path: Path):
    """Without transparency LoadImage's MASK is black everywhere: that style would apply nowhere."""
    prompt = _with_loaded_mask(server, Image.new("RGB", (32, 32), (90, 90, 90)), tmp_path / "opaque.png")
    error = execution_error(server, prompt, "NST_StyleMix")
    assert error["exception_message"].startswith("mask_2: is black everywhere"), error["exception_message"]
    assert error["exception_type"].endswith("InputError")
