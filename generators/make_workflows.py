"""Write the bundled workflows: UI format in workflows/*.json, API format in workflows/api/*.json.

Both files of a workflow come from one graph description below, so they
cannot drift apart; the UI layout (widget order, socket lists) is taken from
a running ComfyUI's /object_info with this pack loaded. Nodes are placed in
columns, each sized as the frontend sizes it plus the room its pictures need
(results, live previews), so that nothing overlaps before or during a run:

    python generators/make_workflows.py --server http://127.0.0.1:8188

tests/comfy/test_nodes.py checks that every UI file still matches its API twin.
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
FAST_DOWNLOAD = "magenta-arbitrary-stylization-lite.safetensors (download if missing, from PyPI, 3 MB)"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


@dataclass
class Node:
    """One node: id, type, title, column on the canvas, inputs (values, or (node, slot) links).

    `room` is body height beyond the widgets for what the node shows (an image, a
    live preview, text); `width` is its width on the canvas.
    """

    id: int
    type: str
    title: str
    column: int
    inputs: dict[str, Any] = field(default_factory=dict)
    room: int = 0
    width: int = 320


def link(node: int, slot: int = 0) -> tuple[int, int]:
    return (node, slot)


MIX_DEFAULTS = {"weight_2": 1.0, "weight_3": 1.0, "weight_4": 1.0, "mode": "gram", "style_scale": 1.0}
# Body room for what a node shows, beyond its widgets: the live preview Optimize and the search
# grow by when a run starts, a 256 px result, the loss plot, the metrics text. Found in the real
# frontend; tests/comfy/test_browser.py checks that no node then overlaps another.
PREVIEW_ROOM = 240
IMAGE_ROOM = 280
PLOT_ROOM = 250
TEXT_ROOM = 150


def optimize(node_id: int, column: int, style: tuple[int, int], steps: int, size: int, **extra: Any) -> Node:
    inputs = {
        "vgg": link(1), "content": link(2), "style": style, "steps": steps, "optimizer": "adam",
        "learning_rate": 0.0, "size": size, "init": "content", "preserve_color": "none", "seed": 0,
        "preview_interval": 10, "dtype": "auto", "scales": "auto", "tile": 0, "average": 0.0, **extra,
    }  # fmt: skip
    return Node(node_id, "NST_Optimize", "Optimize", column, inputs, room=PREVIEW_ROOM)


def outputs(first_id: int, column: int, run: int, prefix: str) -> list[Node]:
    """Result, loss curves and metrics of the Optimize node `run`, stacked in one column."""
    return [
        Node(first_id, "SaveImage", "Result", column, {"images": link(run, 0), "filename_prefix": prefix}, room=IMAGE_ROOM),
        Node(first_id + 1, "PreviewImage", "Loss curves", column, {"images": link(run, 1)}, room=PLOT_ROOM, width=400),
        Node(first_id + 2, "PreviewAny", "Metrics", column, {"source": link(run, 2)}, room=TEXT_ROOM, width=400),
    ]


def load_vgg() -> Node:
    return Node(1, "NST_LoadVGG19", "Load VGG", 0, {"weights": DOWNLOAD, "pooling": "max", "convention": "auto", "padding": "zeros"})


def common(style_sample: str = "style_waves.png", style_title: str = "Style image") -> list[Node]:
    return [
        load_vgg(),
        Node(2, "NST_SampleImage", "Content image", 0, {"sample": "content.png"}),
        Node(3, "NST_SampleImage", style_title, 0, {"sample": style_sample}),
    ]


def basic_style_transfer() -> list[Node]:
    return [
        *common(),
        Node(4, "NST_StyleMix", "Style", 0, {"style_1": link(3), "weight_1": 1.0, **MIX_DEFAULTS}),
        optimize(5, 1, link(4), steps=100, size=256),
        *outputs(6, 2, run=5, prefix="nst/basic"),
    ]


def two_style_mix() -> list[Node]:
    return [
        *common(style_title="Style image 1 (weight 1/4)"),
        Node(4, "NST_SampleImage", "Style image 2 (weight 3/4)", 0, {"sample": "style_mosaic.png"}),
        Node(5, "NST_StyleMix", "Style mix 1/4 + 3/4", 0, {
            "style_1": link(3), "style_2": link(4), **MIX_DEFAULTS, "weight_1": 0.25, "weight_2": 0.75,
        }),  # fmt: skip
        optimize(6, 1, link(5), steps=100, size=256),
        *outputs(7, 2, run=6, prefix="nst/two_style_mix"),
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
        Node(4, "NST_StyleMix", "Style", 0, {"style_1": link(3), "weight_1": 1.0, **MIX_DEFAULTS}),
        Node(5, "NST_LossConfig", "Loss (shared by search and render)", 0, {
            "content_layers": "relu4_2", "style_layers": "relu1_1, relu2_1, relu3_1, relu4_1, relu5_1",
            "style_layer_weights": "", "content_weight": 1.0, "style_weight": 1.0, "tv_weight": 0.0, "style_loss": "gram",
            "content_loss": "mse",
        }),  # fmt: skip
        Node(6, "NST_RotationDESearch", "Rotation DE search", 1, search, room=PREVIEW_ROOM),
        Node(9, "PreviewImage", "Search previews (top-k proxies)", 2, {"images": link(6, 1)}, room=IMAGE_ROOM),
        Node(10, "PreviewAny", "Search report", 2, {"source": link(6, 2)}, room=TEXT_ROOM),
        optimize(7, 3, link(6, 3), steps=60, size=192, loss=link(5)),
        Node(8, "SaveImage", "Generated images 1, 2", 4, {"images": link(7, 0), "filename_prefix": "nst/rotation_search"}, room=IMAGE_ROOM),
        Node(11, "PreviewImage", "Loss curves", 4, {"images": link(7, 1)}, room=PLOT_ROOM, width=400),
        Node(12, "PreviewAny", "Metrics", 4, {"source": link(7, 2)}, room=TEXT_ROOM, width=400),
    ]


def regional_styles() -> list[Node]:
    """Waves on the left half, mosaic on the right: Style Mix's mask_1/mask_2, drawn by core mask nodes (no upload)."""
    return [
        *common(style_title="Style image 1 (left)"),
        Node(4, "NST_SampleImage", "Style image 2 (right)", 0, {"sample": "style_mosaic.png"}),
        Node(5, "SolidMask", "Black 256 x 256", 1, {"value": 0.0, "width": 256, "height": 256}),
        Node(6, "SolidMask", "White 128 x 256", 1, {"value": 1.0, "width": 128, "height": 256}),
        Node(7, "MaskComposite", "Right half", 1, {
            "destination": link(5), "source": link(6), "x": 128, "y": 0, "operation": "add",
        }),  # fmt: skip
        Node(8, "InvertMask", "Left half", 1, {"mask": link(7)}),
        Node(9, "NST_StyleMix", "Style 1 left, style 2 right", 1, {
            "style_1": link(3), "style_2": link(4), "weight_1": 1.0, **MIX_DEFAULTS, "mask_1": link(8), "mask_2": link(7),
        }),  # fmt: skip
        optimize(10, 2, link(9), steps=100, size=256),
        *outputs(11, 3, run=10, prefix="nst/regional_styles"),
    ]


def fast_style_transfer() -> list[Node]:
    """The fast mode's instant result beside Optimize's refinement of it (init fast), both from one recipe."""
    fast = {
        "fast_model": link(5), "content": link(2), "style": link(4), "strength": 1.0, "size": 256,
        "working_size": 512, "preserve_color": "none",
    }  # fmt: skip
    return [
        *common(),
        Node(4, "NST_StyleMix", "Style", 0, {"style_1": link(3), "weight_1": 1.0, **MIX_DEFAULTS}),
        Node(5, "NST_LoadFastModel", "Load Fast Model", 0, {"weights": FAST_DOWNLOAD}),
        Node(6, "NST_FastStyle", "Fast Style (instant)", 1, fast),
        optimize(7, 1, link(4), steps=100, size=256, init="fast", fast_model=link(5)),
        Node(8, "SaveImage", "Instant", 2, {"images": link(6, 0), "filename_prefix": "nst/fast_instant"}, room=IMAGE_ROOM),
        Node(9, "SaveImage", "Refined (100 steps from the instant result)", 2,
             {"images": link(7, 0), "filename_prefix": "nst/fast_refined"}, room=IMAGE_ROOM),  # fmt: skip
    ]


def video_style_transfer() -> list[Node]:
    """The bundled clip's frames painted one after another (Stylize Video), then put back together with the clip's
    sound and frame rate. Sample Video stands where Load Video goes, so the template runs on a fresh install."""
    stylize = {
        "vgg": link(1), "frames": link(5, 0), "style": link(4), "steps": 100, "optimizer": "adam", "learning_rate": 0.0,
        "size": 160, "init": "content", "preserve_color": "none", "seed": 0, "preview_interval": 10, "dtype": "auto",
        "scales": "auto", "temporal_weight": 10.0, "later_steps": 0, "scene_cut": 0.5, "stabilize": True, "tile": 0, "average": 0.0,
    }  # fmt: skip
    return [
        load_vgg(),
        Node(2, "NST_SampleVideo", "Clip (or Load Video)", 0, {"sample": "clip.mp4"}),
        Node(3, "NST_SampleImage", "Style image", 0, {"sample": "style_waves.png"}),
        Node(4, "NST_StyleMix", "Style", 0, {"style_1": link(3), "weight_1": 1.0, **MIX_DEFAULTS}),
        Node(5, "GetVideoComponents", "Frames, sound, frame rate", 1, {"video": link(2)}),
        Node(6, "NST_StylizeVideo", "Stylize Video", 1, stylize, room=PREVIEW_ROOM),
        Node(7, "CreateVideo", "Frames to video", 2, {"images": link(6, 0), "fps": link(5, 2), "audio": link(5, 1)}),
        Node(8, "SaveVideo", "Result", 2, {"video": link(7), "filename_prefix": "nst/video", "format": "auto", "codec": "auto"},
             room=IMAGE_ROOM),  # fmt: skip
        Node(9, "MaskToImage", "Reliability as image", 3, {"mask": link(6, 1)}),
        Node(10, "PreviewImage", "Where the previous frame was trusted", 3, {"images": link(9)}, room=IMAGE_ROOM),
        Node(11, "PreviewAny", "Metrics", 3, {"source": link(6, 2)}, room=TEXT_ROOM, width=400),
    ]


SHEET_LAYERS = "relu1_1, relu2_1, relu3_1, relu4_1, relu5_1"
SHEET_ROOM = 340


def inspect_layers() -> list[Node]:
    """The course's "visualizing deep layers": relu1_1 ... relu5_1 of the content and the style, one sheet each."""
    nodes = common()
    for offset, (source, label) in enumerate(((2, "Content"), (3, "Style"))):
        sheet = 4 + 2 * offset
        nodes.append(Node(sheet, "NST_VisualizeLayers", f"{label} layers", 1, {
            "vgg": link(1), "image": link(source), "layers": SHEET_LAYERS, "channels": 8,
        }))  # fmt: skip
        nodes.append(Node(sheet + 1, "PreviewImage", f"What VGG sees in the {label.lower()}", 2,
                          {"images": link(sheet, 0)}, room=SHEET_ROOM, width=640))  # fmt: skip
    return nodes


GRAPHS = {
    "basic_style_transfer": basic_style_transfer,
    "two_style_mix": two_style_mix,
    "rotation_de_search": rotation_de_search,
    "inspect_layers": inspect_layers,
    "regional_styles": regional_styles,
    "fast_style_transfer": fast_style_transfer,
    "video_style_transfer": video_style_transfer,
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
        for node in sorted(nodes, key=lambda node: node.id)
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


# The frontend's node metrics (LiteGraph, ComfyUI frontend 1.32.9): a title bar above the
# node's position, a row per socket, a row per widget, and a little padding.
TITLE_HEIGHT = 30
SLOT_HEIGHT = 20
WIDGET_HEIGHT = 24
PADDING = 14
GAP_X, GAP_Y = 50, 30
MARGIN = 40
# The canvas a template opens on: a 1600 x 860 px browser view less the side bar, the tab
# bar and breadcrumb, the Run bar and the minimap.
VIEW_LEFT, VIEW_TOP = 70, 140
VIEW_WIDTH, VIEW_HEIGHT = 1300, 690


def body_height(node: Node, sockets: int, outputs: int, widgets: int) -> int:
    """The node's height below its title: what the frontend computes, plus the node's room."""
    return max(sockets, outputs) * SLOT_HEIGHT + widgets * WIDGET_HEIGHT + (PADDING if widgets else 6) + node.room


def place(nodes: list[Node], heights: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """Columns left to right, each as wide as its widest node; nodes stacked in the order listed."""
    widths: dict[int, int] = {}
    for node in nodes:
        widths[node.column] = max(widths.get(node.column, 0), node.width)
    lefts, x = {}, MARGIN
    for column in sorted(widths):
        lefts[column] = x
        x += widths[column] + GAP_X
    tops: dict[int, int] = {}
    places = {}
    for node in nodes:
        top = tops.get(node.column, MARGIN)
        places[node.id] = (lefts[node.column], top + TITLE_HEIGHT)
        tops[node.column] = top + TITLE_HEIGHT + heights[node.id] + GAP_Y
    return places


def view(nodes: list[Node], places: Mapping[int, tuple[int, int]], heights: Mapping[int, int]) -> dict[str, Any]:
    """The zoom (at most 1:1) and offset that show the whole graph in the free part of the canvas."""
    right = max(places[n.id][0] + n.width for n in nodes)
    bottom = max(places[n.id][1] + heights[n.id] for n in nodes)
    scale = int(min(1.0, VIEW_WIDTH / right, VIEW_HEIGHT / bottom) * 20) / 20
    # The frontend draws a graph point p at (p + offset) * scale.
    return {"scale": scale, "offset": [round(VIEW_LEFT / scale - MARGIN), round(VIEW_TOP / scale - MARGIN)]}


def to_ui(nodes: list[Node], object_info: Mapping[str, Any]) -> dict[str, Any]:
    links: list[list[Any]] = []
    outgoing: dict[tuple[int, int], list[int]] = {}
    ui_nodes = []
    heights: dict[int, int] = {}
    order = _order(nodes)
    for node in nodes:
        spec = object_info[node.type]
        sockets, widgets = [], []
        for name, kind, options in _inputs_in_order(spec):
            entry: dict[str, Any] = {"name": name, "type": kind, "link": None}
            if _is_widget(kind, options):
                if name not in node.inputs:
                    raise ValueError(f"{node.type} {node.id}: no value for widget {name}")
                value = node.inputs[name]
                # A widget fed by a link keeps its place among the values (the UI stores its default there) and
                # gets a socket, as the frontend saves it.
                widgets.append(options.get("default") if _is_link(value) else value)
                if options.get("control_after_generate"):
                    widgets.append("fixed")
                if not _is_link(value):
                    continue
                entry["widget"] = {"name": name}
            if name in node.inputs:
                source = node.inputs[name]
                link_id = len(links) + 1
                links.append([link_id, source[0], source[1], node.id, len(sockets), kind])
                outgoing.setdefault(source, []).append(link_id)
                entry["link"] = link_id
            sockets.append(entry)
        outputs = len(object_info[node.type]["output"])
        heights[node.id] = body_height(node, len(sockets), outputs, len(widgets))
        ui_nodes.append(
            {
                "id": node.id,
                "type": node.type,
                "pos": [0, 0],
                "size": [node.width, heights[node.id]],
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
    places = place(nodes, heights)
    for entry, node in zip(ui_nodes, nodes):
        entry["pos"] = list(places[node.id])
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
        "extra": {"ds": view(nodes, places, heights)},
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
