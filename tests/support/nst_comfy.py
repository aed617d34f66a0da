"""Shared pieces of the tests that run this pack on a real ComfyUI server.

tests/comfy/test_nodes.py and tests/comfy/test_run_workflow.py both need a server with
the pack and a VGG19 file; starting one costs seconds and about 1 GB, so
`nst_server` starts it once per test session and hands the same one to both
(memoised on the session-scoped server factory, which also stops it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from nst_nodes.core.random_vgg import save_random_weights
from nst_nodes.core.fast_weights import FAST_FILE
from nst_nodes.core.weights import WEIGHTS_FILE

from comfy_harness import ComfyServer, collect_prompt, collect_until
from fixtures_comfy import ComfyServerFactory
from helpers import RANDOM_SEED, fast_model_file
from paths import WORKFLOWS

API_WORKFLOWS = sorted((WORKFLOWS / "api").glob("*.json"))
UI_WORKFLOWS = sorted(WORKFLOWS.glob("*.json"))
NODE_IDS = {
    "NST_SampleImage",
    "NST_SampleVideo",
    "NST_LoadVGG19",
    "NST_StyleMix",
    "NST_StyleRotate",
    "NST_LossConfig",
    "NST_Optimize",
    "NST_LoadFastModel",
    "NST_FastStyle",
    "NST_StylizeVideo",
    "NST_RotationDESearch",
    "NST_VisualizeFeatures",
    "NST_VisualizeLayers",
}
EXTRA_VGG_FILE = "extra-vgg19.safetensors"
TEST_SIZE = 64

# What every workflow is shrunk to in tests: tiny images, a few steps (a clip's later frames one each), a tiny search.
SHRINK: dict[str, dict[str, Any]] = {
    "NST_Optimize": {"size": TEST_SIZE, "steps": 2, "preview_interval": 1},
    "NST_FastStyle": {"size": TEST_SIZE, "working_size": TEST_SIZE},
    "NST_StylizeVideo": {"size": TEST_SIZE, "steps": 2, "later_steps": 1, "preview_interval": 1},
    "NST_RotationDESearch": {"popsize": 4, "generations": 1, "proxy_size": 32, "proxy_steps": 1, "top_k": 2},
}


def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded random-weight VGG19 saved like torchvision's file (written once per session)."""
    path = tmp_path_factory.getbasetemp() / "nst-vgg" / WEIGHTS_FILE
    return path if path.exists() else save_random_weights(path, seed=RANDOM_SEED)


def nst_server(
    factory: ComfyServerFactory, tmp_path_factory: pytest.TempPathFactory, name: str = "nst-main"
) -> ComfyServer:
    """A running server with the pack, torchvision's file name in models/vgg, the real fast pair in models/nst_fast, --cache-none.

    The main one also reads an extra_model_paths.yaml that declares a second
    vgg folder (holding a .safetensors checkpoint and a stray text file), so
    the model-folder registration is exercised on the same server.
    """
    servers: dict[str, ComfyServer] = factory.__dict__.setdefault("_nst_servers", {})
    server = servers.get(name)
    if server is not None and server.running:
        return server
    extra_args: list[str] = []
    if name == "nst-main":
        extra = tmp_path_factory.mktemp("extra-models")
        (extra / "more_vgg").mkdir()
        save_random_weights(extra / "more_vgg" / EXTRA_VGG_FILE, seed=99)
        (extra / "more_vgg" / "README.txt").write_text("not a model")
        config = extra / "extra_model_paths.yaml"
        config.write_text(f"nst_tests:\n  base_path: {extra}\n  vgg: more_vgg\n")
        extra_args = ["--extra-model-paths-config", str(config)]
    server = factory(
        vgg_files={WEIGHTS_FILE: weights_file(tmp_path_factory)}, model_files={"nst_fast": {FAST_FILE: fast_model_file()}},
        name=name, extra_args=extra_args,
    )  # fmt: skip
    servers[name] = server
    return server


def load_api(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def shrink(prompt: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an API graph sized for tests (see SHRINK)."""
    out = json.loads(json.dumps(prompt))
    for node in out.values():
        node["inputs"].update(SHRINK.get(node["class_type"], {}))
    return out


def nodes_of(prompt: Mapping[str, Any], class_type: str) -> list[str]:
    return [key for key, node in prompt.items() if node["class_type"] == class_type]


def interrupt_during(
    server: ComfyServer, prompt: Mapping[str, Any], node: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Queue `prompt` and interrupt it once `node` reports progress.

    Returns the interruption event's data, every event of the prompt, and its history.
    """
    with server.api.events() as stream:
        code, body = server.api.post_prompt(prompt, client_id=stream.client_id)
        assert code == 200, body
        prompt_id = body["prompt_id"]
        collect_until(stream, lambda e: e["type"] == "progress" and e["data"]["node"] == node, timeout=300)
        server.api.interrupt()  # raises unless HTTP 200
        events = collect_prompt(stream, prompt_id, timeout=300)
    (interrupted,) = [e["data"] for e in events if e["type"] == "execution_interrupted"]
    return interrupted, events, server.wait_for_history(prompt_id, timeout=30)


def execution_error(server: ComfyServer, prompt: Mapping[str, Any], node_type: str) -> dict[str, Any]:
    """Run `prompt`, which must fail in exactly one node of `node_type`; that failure's message data."""
    run = server.run_prompt(prompt, timeout=300)
    assert run.status == "error"
    (error,) = run.messages("execution_error")
    assert error["node_type"] == node_type
    assert any(e["type"] == "execution_error" for e in run.events)
    return error
