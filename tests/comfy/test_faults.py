"""Faults on a real ComfyUI server: untrusted weights, path escapes, interrupting a search, memory over many prompts."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

from nst_nodes.core.random_vgg import random_vgg_state_dict, save_random_weights
from nst_nodes.core.weights import WEIGHTS_FILE

from comfy_harness import ComfyServer, PromptRejected
from nst_comfy import WORKFLOWS, execution_error, interrupt_during, load_api, shrink, weights_file


class _Payload:
    """Unpickling this writes a marker file: the pack must never do it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("marker") / "PAYLOAD-RAN"


@pytest.fixture(scope="module")
def server(comfy_server_factory, tmp_path_factory, marker) -> ComfyServer:
    """A server whose models/vgg holds one good file and several bad ones."""
    good = weights_file(tmp_path_factory)
    state = random_vgg_state_dict(seed=5)
    folder = tmp_path_factory.mktemp("bad-weights")
    evil = dict(state)
    evil["payload"] = _Payload(str(marker))
    torch.save(evil, folder / "evil.pth")
    wrong = dict(state)
    wrong["features.2.weight"] = torch.zeros(64, 64, 1, 1)
    torch.save(wrong, folder / "wrong-shape.pth")
    files: dict[str, Any] = {
        WEIGHTS_FILE: good,
        "empty.pth": b"",
        "truncated.pth": good.read_bytes()[:4096],
        "raw-pickle.pth": pickle.dumps(_Payload(str(marker))),
        "evil.pth": folder / "evil.pth",
        "wrong-shape.pth": folder / "wrong-shape.pth",
    }
    return comfy_server_factory(vgg_files=files, name="nst-faults")


def _basic(weights: str = WEIGHTS_FILE, **optimize: Any) -> dict[str, Any]:
    prompt = shrink(load_api(WORKFLOWS / "api" / "basic_style_transfer.json"))
    prompt["1"]["inputs"]["weights"] = weights
    prompt["5"]["inputs"].update(optimize)
    return prompt


@pytest.mark.parametrize(
    "name, message",
    [
        ("empty.pth", "is empty"),
        ("truncated.pth", "corrupt or truncated"),
        ("wrong-shape.pth", "features.2.weight is (64, 64, 1, 1), expected (64, 64, 3, 3)"),
        ("evil.pth", "not a plain state dict"),
        ("raw-pickle.pth", "not a plain state dict"),
    ],
)
def test_bad_weights_files_give_a_named_error_and_never_run_code(server: ComfyServer, marker: Path, name, message):
    run = server.run_prompt(_basic(name), timeout=300)
    assert run.status == "error"
    (error,) = run.messages("execution_error")
    assert error["node_type"] == "NST_LoadVGG19"
    assert error["exception_message"].startswith("weights: ") and message in error["exception_message"]
    assert not marker.exists()
    assert server.run_prompt(_basic(seed=len(name)), timeout=300).status == "success"


def test_weights_path_cannot_escape_the_models_folder(server: ComfyServer, tmp_path: Path):
    outside = tmp_path / "outside.pth"
    save_random_weights(outside, seed=1)
    for choice in ("../../../" + str(outside), str(outside), "../vgg/" + WEIGHTS_FILE):
        try:
            run = server.run_prompt(_basic(choice), timeout=300)
        except PromptRejected as rejected:  # newer ComfyUI refuses values outside the combo list
            assert "weights" in str(rejected.body)
            continue
        assert run.status == "error", choice
        (error,) = run.messages("execution_error")
        assert error["exception_message"].startswith("weights: "), error["exception_message"]


def test_interrupting_a_search_stops_it_and_the_next_prompt_runs(server: ComfyServer):
    prompt = shrink(load_api(WORKFLOWS / "api" / "rotation_de_search.json"))
    prompt["1"]["inputs"]["weights"] = WEIGHTS_FILE
    prompt["6"]["inputs"].update(generations=1000, popsize=8, proxy_steps=5)
    interrupted, _events, history = interrupt_during(server, prompt, "6")
    assert interrupted["node_type"] == "NST_RotationDESearch"
    assert "8" not in history["outputs"]  # nothing rendered or saved
    assert server.run_prompt(_basic(seed=123), timeout=300).status == "success"


def test_twenty_prompts_in_a_row_keep_memory_flat(server: ComfyServer, record_property):
    rss = []
    for index in range(20):
        run = server.run_prompt(_basic(seed=1000 + index, steps=2), timeout=300)
        assert run.status == "success", (index, run.messages("execution_error"))
        rss.append(server.rss_bytes())
    record_property("rss_after_each_prompt_mib", [round(r / 2**20) for r in rss])
    assert rss[19] <= 1.10 * rss[1], [round(r / 2**20) for r in rss]


def _empty_image(prompt: dict[str, Any], node_id: str, width: int, height: int, batch: int = 1) -> None:
    """Replace a sample-image node by ComfyUI's built-in EmptyImage (no upload needed)."""
    prompt[node_id] = {
        "class_type": "EmptyImage",
        "inputs": {"width": width, "height": height, "batch_size": batch, "color": 0x808080},
    }


def _tiny_content(prompt):
    _empty_image(prompt, "2", 1, 1)


def _style_batch(prompt):
    _empty_image(prompt, "3", 64, 64, batch=2)


def _huge_size(prompt):
    """Too large even in tiles here: L-BFGS keeps 100 copies of the 8192 px image (80 GB, more than CI has)."""
    prompt["5"]["inputs"]["size"] = 8192
    prompt["5"]["inputs"]["optimizer"] = "lbfgs"


BAD_INPUTS = [
    (_tiny_content, "NST_Optimize", "content: the image is 1x1 px"),
    (_style_batch, "NST_StyleMix", "style_1: got a batch of 2 images"),
    (_huge_size, "NST_Optimize", "size: a 8192x8192 run needs about"),
]


@pytest.mark.parametrize("edit, node_type, message", BAD_INPUTS, ids=[b[0].__name__ for b in BAD_INPUTS])
def test_bad_images_and_sizes_are_named_errors(server: ComfyServer, edit, node_type, message):
    prompt = _basic()
    edit(prompt)
    error = execution_error(server, prompt, node_type)
    assert error["exception_message"].startswith(message), error["exception_message"]
    assert server.run_prompt(_basic(seed=77), timeout=300).status == "success"


def test_out_of_range_numbers_are_refused_before_running(server: ComfyServer):
    prompt = _basic(steps=0)
    with pytest.raises(PromptRejected) as rejected:
        server.run_prompt(prompt, timeout=60)
    assert rejected.value.status_code == 400 and "steps" in str(rejected.value.body["node_errors"]["5"])
    search = shrink(load_api(WORKFLOWS / "api" / "rotation_de_search.json"))
    search["1"]["inputs"]["weights"] = WEIGHTS_FILE
    search["6"]["inputs"].update(popsize=2, proxy_size=16)
    with pytest.raises(PromptRejected) as rejected:
        server.run_prompt(search, timeout=60)
    errors = str(rejected.value.body["node_errors"]["6"])
    assert "popsize" in errors and "proxy_size" in errors
