"""Workflow files (client/workflow.py): the UI format to the API format, both detected, --set and --input edits."""

from __future__ import annotations

from typing import Any

import pytest

from nst_nodes.client import workflow
from nst_nodes.core.errors import InputError


# A small /object_info in ComfyUI's layout, enough for the conversions below.
OBJECT_INFO: dict[str, Any] = {
    "Source": {
        "input": {"required": {"seed": ["INT", {"control_after_generate": True}], "mode": [["a", "b"], {}]}},
        "input_order": {"required": ["seed", "mode"]},
        "output": ["IMAGE"], "display_name": "Source",
    },
    "Sink": {
        "input": {"required": {"images": ["IMAGE", {}], "prefix": ["STRING", {}]},
                  "optional": {"extra": ["FLOAT", {}], "linked": ["INT", {"forceInput": True}]}},
        "input_order": {"required": ["images", "prefix"], "optional": ["extra", "linked"]},
        "output": [], "display_name": "Sink",
    },
    "LoadImage": {
        "input": {"required": {"image": [["x.png"], {"image_upload": True}]}},
        "input_order": {"required": ["image"]}, "output": ["IMAGE", "MASK"], "display_name": "Load Image",
    },
}  # fmt: skip


def _ui(nodes: list[dict[str, Any]], links: list[Any]) -> dict[str, Any]:
    return {"nodes": nodes, "links": links, "version": 0.4}


def test_ui_to_api_widgets_links_reroutes_and_muted_nodes():
    data = _ui(
        [
            {"id": 1, "type": "Source", "mode": 0, "title": "Content image", "widgets_values": [5, "randomize", "b"]},
            {"id": 2, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 1}]},
            {"id": 3, "type": "Sink", "mode": 0, "widgets_values": ["out", 0.5],
             "inputs": [{"name": "images", "type": "IMAGE", "link": 2}, {"name": "linked", "type": "INT", "link": None}]},
            {"id": 4, "type": "Note", "mode": 0, "widgets_values": ["a comment"]},
            {"id": 5, "type": "Sink", "mode": 2, "widgets_values": ["muted", 1.0]},
        ],
        [[1, 1, 0, 2, 0, "IMAGE"], {"id": 2, "origin_id": 2, "origin_slot": 0, "target_id": 3, "target_slot": 0}],
    )  # fmt: skip
    assert workflow.ui_to_api(data, OBJECT_INFO) == {
        "1": {"inputs": {"seed": 5, "mode": "b"}, "class_type": "Source", "_meta": {"title": "Content image"}},
        "3": {"inputs": {"prefix": "out", "extra": 0.5, "images": ["1", 0]}, "class_type": "Sink", "_meta": {"title": "Sink"}},
    }


@pytest.mark.parametrize(
    "node, message",
    [
        ({"id": 1, "type": "Mystery", "mode": 0}, r"node 1 has type 'Mystery', which the server does not have"),
        ({"id": 1, "type": "Source", "mode": 4, "widgets_values": [1, "fixed", "a"]}, r"node 1 \(Source\) is bypassed"),
    ],
)
def test_ui_to_api_refuses_what_it_cannot_convert(node, message):
    with pytest.raises(InputError, match=message):
        workflow.ui_to_api(_ui([node], []), OBJECT_INFO)


def test_api_format_detection(tmp_path):
    graph = {"1": {"class_type": "Source", "inputs": {"seed": 1, "mode": "a"}}}
    assert workflow.api_prompt({"prompt": graph}) == graph == workflow.api_prompt(graph)
    assert not workflow.is_ui_format(graph) and workflow.is_ui_format(_ui([], []))
    with pytest.raises(InputError, match="not a ComfyUI workflow"):
        workflow.api_prompt({"1": {"inputs": {}}})
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    with pytest.raises(InputError, match=r"^workflow: .*broken.json is not a readable JSON file"):
        workflow.load_workflow(broken)


def _prompt() -> dict[str, Any]:
    return {
        "1": {"class_type": "Source", "inputs": {"seed": 1, "mode": "a"}, "_meta": {"title": "Content image"}},
        "2": {"class_type": "Source", "inputs": {"seed": 1, "mode": "a"}, "_meta": {"title": "Style image"}},
        "3": {"class_type": "Sink", "inputs": {"images": ["1", 0], "prefix": "x"}, "_meta": {"title": "Result"}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "Photo"}},
    }


def test_set_by_id_or_title_with_json_values():
    prompt = _prompt()
    workflow.apply_sets(prompt, ["3.prefix=nst/out", "Content image.seed=42", "result.extra=1e3", "2.mode=[1, 2]"])
    assert prompt["3"]["inputs"]["prefix"] == "nst/out" and prompt["3"]["inputs"]["extra"] == 1000.0
    assert prompt["1"]["inputs"]["seed"] == 42 and prompt["2"]["inputs"]["mode"] == [1, 2]
    with pytest.raises(InputError, match=r"^set: 'steps=5' is not NODE.INPUT=VALUE"):
        workflow.apply_sets(prompt, ["steps=5"])
    with pytest.raises(InputError, match=r"^set: no node '9' in the workflow; nodes are 1 \(Content image\)"):
        workflow.apply_sets(prompt, ["9.steps=5"])
    assert workflow.find_node(prompt, "style", "set") == "2"  # a unique prefix of a title is enough
    prompt["2"]["_meta"]["title"] = "Content image 2"
    with pytest.raises(InputError, match=r"^set: 'content' matches several nodes \(1, 2\); use a node id"):
        workflow.find_node(prompt, "content", "set")


def test_inputs_go_to_image_inputs_or_replace_image_nodes():
    prompt = _prompt()
    photo = workflow.resolve_input(prompt, "Photo", OBJECT_INFO)
    assert (photo.node, photo.input, photo.replace_node) == ("4", "image", False)
    content = workflow.resolve_input(prompt, "content", OBJECT_INFO)
    assert (content.node, content.replace_node) == ("1", True)
    workflow.set_uploaded(prompt, content, "mine.png")
    assert prompt["1"] == {"inputs": {"image": "mine.png"}, "class_type": "LoadImage", "_meta": {"title": "Content image"}}
    assert prompt["3"]["inputs"]["images"] == ["1", 0]  # links into the replaced node still hold
    named = workflow.resolve_input(prompt, "3.prefix", OBJECT_INFO)
    assert (named.node, named.input) == ("3", "prefix")
    with pytest.raises(InputError, match=r"^input: node 3 \(Sink\) takes no image"):
        workflow.resolve_input(prompt, "Result", OBJECT_INFO)
