"""Write the bundled workflows: UI format in workflows/*.json, API format in workflows/api/*.json.

Both files of a workflow come from one graph description below, so they
cannot drift apart; the UI layout (widget order, socket lists) is taken from
a running ComfyUI's /object_info with this pack loaded:

    python generators/make_workflows.py --server http://127.0.0.1:8188

tests/test_comfy_nodes.py checks that every UI file still matches its API twin.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
DOWNLOAD = "vgg19-dcbb9e9d.pth (download if missing, 548 MB)"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


@dataclass
class Node:
    """One node: its id, type, title, place on the canvas and inputs (values, or (node, slot) links)."""

    id: int
    type: str
    title: str
    pos: tuple[int, int]
    inputs: dict[str, Any] = field(default_factory=dict)


def link(node: int, slot: int = 0) -> tuple[int, int]:
    return (node, slot)


MIX_DEFAULTS = {"weight_2": 1.0, "weight_3": 1.0, "weight_4": 1.0, "mode": "gram", "style_scale": 1.0}


def optimize(node_id: int, pos: tuple[int, int], style: tuple[int, int], steps: int, size: int, **extra: Any) -> Node:
    inputs = {
        "vgg": link(1), "content": link(2), "style": style, "steps": steps, "optimizer": "adam",
        "learning_rate": 0.0, "size": size, "init": "content", "preserve_color": "none", "seed": 0,
        "preview_interval": 10, "dtype": "auto", "scales": "auto", "tile": 0, **extra,
    }  # fmt: skip
    return Node(node_id, "NST_Optimize", "Optimize", pos, inputs)


def common(style_sample: str = "style_waves.png", style_title: str = "Style image") -> list[Node]:
    return [
        Node(1, "NST_LoadVGG19", "Load VGG", (40, 60), {"weights": DOWNLOAD, "pooling": "max", "convention": "auto"}),
        Node(2, "NST_SampleImage", "Content image", (40, 230), {"sample": "content.png"}),
        Node(3, "NST_SampleImage", style_title, (40, 380), {"sample": style_sample}),
    ]


def basic_style_transfer() -> list[Node]:
    return [
        *common(),
        Node(4, "NST_StyleMix", "Style", (360, 380), {"style_1": link(3), "weight_1": 1.0, **MIX_DEFAULTS}),
        optimize(5, (720, 60), link(4), steps=100, size=256),
        Node(6, "SaveImage", "Result", (1120, 60), {"images": link(5, 0), "filename_prefix": "nst/basic"}),
        Node(7, "PreviewImage", "Loss curves", (1120, 420), {"images": link(5, 1)}),
        Node(8, "PreviewAny", "Metrics", (720, 620), {"source": link(5, 2)}),
    ]


def two_style_mix() -> list[Node]:
    return [
        *common(style_title="Style image 1 (weight 1/4)"),
        Node(4, "NST_SampleImage", "Style image 2 (weight 3/4)", (40, 530), {"sample": "style_mosaic.png"}),
        Node(5, "NST_StyleMix", "Style mix 1/4 + 3/4", (360, 380), {
            "style_1": link(3), "style_2": link(4), **MIX_DEFAULTS, "weight_1": 0.25, "weight_2": 0.75,
        }),  # fmt: skip
        optimize(6, (720, 60), link(5), steps=100, size=256),
        Node(7, "SaveImage", "Result", (1120, 60), {"images": link(6, 0), "filename_prefix": "nst/two_style_mix"}),
        Node(8, "PreviewImage", "Loss curves", (1120, 420), {"images": link(6, 1)}),
        Node(9, "PreviewAny", "Metrics", (720, 620), {"source": link(6, 2)}),
    ]


def rotation_de_search() -> list[Node]:
    search = {
        "vgg": link(1), "content": link(2), "style": link(4), "loss": link(5), "rotations": 1, "objective": "fit",
        "angle_min": 0.0, "angle_max": 360.0, "popsize": 8, "generations": 4, "proxy_size": 64, "proxy_steps": 10,
        "top_k": 2, "seed": 0, "search_rotation_weight": False, "rotation_weight": 1.0,
        "search_fusion_weights": False, "search_mix_weights": False, "min_separation": 15.0, "epsilon": 0.1, "region": 0,
    }  # fmt: skip
    return [
        *common(),
        Node(4, "NST_StyleMix", "Style", (360, 380), {"style_1": link(3), "weight_1": 1.0, **MIX_DEFAULTS}),
        Node(5, "NST_LossConfig", "Loss (shared by search and render)", (360, 60), {
            "content_layers": "relu4_2", "style_layers": "relu1_1, relu2_1, relu3_1, relu4_1, relu5_1",
            "style_layer_weights": "", "content_weight": 1.0, "style_weight": 1.0, "tv_weight": 0.0,
        }),  # fmt: skip
        Node(6, "NST_RotationDESearch", "Rotation DE search", (720, 60), search),
        optimize(7, (1120, 60), link(6, 3), steps=60, size=192, loss=link(5)),
        Node(8, "SaveImage", "Generated images 1, 2", (1520, 60), {"images": link(7, 0), "filename_prefix": "nst/rotation_search"}),
        Node(9, "PreviewImage", "Search previews (top-k proxies)", (1120, 620), {"images": link(6, 1)}),
        Node(10, "PreviewAny", "Search report", (720, 760), {"source": link(6, 2)}),
        Node(11, "PreviewImage", "Loss curves", (1520, 420), {"images": link(7, 1)}),
        Node(12, "PreviewAny", "Metrics", (1120, 920), {"source": link(7, 2)}),
    ]


def regional_styles() -> list[Node]:
    """Waves on the left half, mosaic on the right: Style Mix's mask_1/mask_2, drawn by core mask nodes (no upload)."""
    return [
        *common(style_title="Style image 1 (left)"),
        Node(4, "NST_SampleImage", "Style image 2 (right)", (40, 530), {"sample": "style_mosaic.png"}),
        Node(5, "SolidMask", "Black 256 x 256", (360, 60), {"value": 0.0, "width": 256, "height": 256}),
        Node(6, "SolidMask", "White 128 x 256", (360, 240), {"value": 1.0, "width": 128, "height": 256}),
        Node(7, "MaskComposite", "Right half", (360, 420), {
            "destination": link(5), "source": link(6), "x": 128, "y": 0, "operation": "add",
        }),  # fmt: skip
        Node(8, "InvertMask", "Left half", (360, 650), {"mask": link(7)}),
        Node(9, "NST_StyleMix", "Style 1 left, style 2 right", (720, 380), {
            "style_1": link(3), "style_2": link(4), "weight_1": 1.0, **MIX_DEFAULTS, "mask_1": link(8), "mask_2": link(7),
        }),  # fmt: skip
        optimize(10, (1080, 60), link(9), steps=100, size=256),
        Node(11, "SaveImage", "Result", (1480, 60), {"images": link(10, 0), "filename_prefix": "nst/regional_styles"}),
        Node(12, "PreviewImage", "Loss curves", (1480, 420), {"images": link(10, 1)}),
        Node(13, "PreviewAny", "Metrics", (1080, 620), {"source": link(10, 2)}),
    ]


INSPECTED_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def inspect_layers() -> list[Node]:
    """The course's "visualizing deep layers": relu1_1 ... relu5_1 of the content and the style side by side."""
    nodes = common()
    for row, layer in enumerate(INSPECTED_LAYERS):
        for column, (source, label) in enumerate(((2, "Content"), (3, "Style"))):
            node_id = 10 + 4 * row + 2 * column
            x, y = 360 + 700 * column, 60 + 420 * row
            nodes.append(Node(node_id, "NST_VisualizeFeatures", f"{label} {layer}", (x, y), {
                "vgg": link(1), "image": link(source), "layer": layer, "channels": 16,
            }))  # fmt: skip
            nodes.append(Node(node_id + 1, "PreviewImage", f"{label}: {layer}", (x + 340, y), {"images": link(node_id, 0)}))
    return nodes


GRAPHS = {
    "basic_style_transfer": basic_style_transfer,
    "two_style_mix": two_style_mix,
    "rotation_de_search": rotation_de_search,
    "inspect_layers": inspect_layers,
    "regional_styles": regional_styles,
}


def _is_link(value: Any) -> bool:
    return isinstance(value, tuple)


def to_api(nodes: list[Node]) -> dict[str, Any]:
    return {
        str(node.id): {
            "inputs": {k: ([str(v[0]), v[1]] if _is_link(v) else v) for k, v in node.inputs.items()},
            "class_type": node.type,
            "_meta": {"title": node.title},
        }
        for node in nodes
    }


def _inputs_in_order(spec: Mapping[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    found = []
    for section in ("required", "optional"):
        for name in spec.get("input_order", {}).get(section, []):
            entry = spec["input"][section][name]
            found.append((name, entry[0], entry[1] if len(entry) > 1 else {}))
    return found


def _is_widget(kind: Any, options: Mapping[str, Any]) -> bool:
    return not options.get("forceInput") and (isinstance(kind, list) or kind in WIDGET_TYPES)


def _order(nodes: list[Node]) -> dict[int, int]:
    """Execution order for the UI's `order` field: each node after everything it reads from."""
    done: dict[int, int] = {}
    remaining = {node.id: node for node in nodes}
    while remaining:
        for node_id, node in sorted(remaining.items()):
            if all(v[0] in done for v in node.inputs.values() if _is_link(v)):
                done[node_id] = len(done)
                del remaining[node_id]
                break
        else:
            raise ValueError("the graph has a cycle")
    return done


def to_ui(nodes: list[Node], object_info: Mapping[str, Any]) -> dict[str, Any]:
    links: list[list[Any]] = []
    outgoing: dict[tuple[int, int], list[int]] = {}
    ui_nodes = []
    order = _order(nodes)
    for node in nodes:
        spec = object_info[node.type]
        sockets, widgets = [], []
        for name, kind, options in _inputs_in_order(spec):
            if _is_widget(kind, options):
                if name not in node.inputs:
                    raise ValueError(f"{node.type} {node.id}: no value for widget {name}")
                value = node.inputs[name]
                widgets.append(value)
                if options.get("control_after_generate"):
                    widgets.append("fixed")
                continue
            entry: dict[str, Any] = {"name": name, "type": kind, "link": None}
            if name in node.inputs:
                source = node.inputs[name]
                link_id = len(links) + 1
                links.append([link_id, source[0], source[1], node.id, len(sockets), kind])
                outgoing.setdefault(source, []).append(link_id)
                entry["link"] = link_id
            sockets.append(entry)
        ui_nodes.append(
            {
                "id": node.id,
                "type": node.type,
                "pos": list(node.pos),
                "size": [320, 60 + 26 * (len(sockets) + len(widgets))],
                "flags": {},
                "order": order[node.id],
                "mode": 0,
                "title": node.title,
                "inputs": sockets,
                "outputs": [],
                "properties": {"Node name for S&R": node.type},
                "widgets_values": widgets,
            }
        )
    for entry, node in zip(ui_nodes, nodes):
        spec = object_info[node.type]
        for slot, (kind, name) in enumerate(zip(spec["output"], spec["output_name"])):
            output = {"name": name, "type": kind, "links": outgoing.get((node.id, slot), []), "slot_index": slot}
            if spec.get("output_is_list", [False] * len(spec["output"]))[slot]:
                output["shape"] = 6  # the UI's grid marker for list outputs
            entry["outputs"].append(output)
    return {
        "last_node_id": max(node.id for node in nodes),
        "last_link_id": len(links),
        "nodes": ui_nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}},
        "version": 0.4,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="a running ComfyUI with this pack, e.g. http://127.0.0.1:8188")
    args = parser.parse_args()
    with urllib.request.urlopen(args.server.rstrip("/") + "/object_info", timeout=60) as response:
        object_info = json.load(response)
    (WORKFLOWS / "api").mkdir(parents=True, exist_ok=True)
    for name, build in GRAPHS.items():
        nodes = build()
        (WORKFLOWS / "api" / f"{name}.json").write_text(json.dumps(to_api(nodes), indent=2) + "\n")
        (WORKFLOWS / f"{name}.json").write_text(json.dumps(to_ui(nodes, object_info), indent=2) + "\n")
        print(f"wrote workflows/{name}.json and workflows/api/{name}.json")


if __name__ == "__main__":
    main()
