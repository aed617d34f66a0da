"""Workflow files for `nst run-workflow`: the two formats, and edits from the command line.

ComfyUI runs graphs in its API format ({id: {class_type, inputs}}); the web
UI saves another one (a node list with widget values by position, and a
link table). `ui_to_api` converts the second into the first the way the UI
does when it queues, using the server's `/object_info` for the order of each
node's widgets. `apply_sets` and `resolve_input` are what `--set` and
`--input` do to an API graph. Nothing here talks to a server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import InputError

# Node types that exist only in the web UI and never reach the server.
UI_ONLY_TYPES = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})
# Values of the extra "control after generate" widget the UI stores after a seed.
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
MODE_MUTED, MODE_BYPASSED = 2, 4

Prompt = dict[str, dict[str, Any]]


# ------------------------------------------------------------------------ formats


def load_workflow(path: str | Path) -> dict[str, Any]:
    """Read a workflow file as JSON, with a message naming the file on failure."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"workflow: file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"workflow: {path} is not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"workflow: {path} holds no workflow (expected a JSON object)")
    return data


def is_ui_format(data: Mapping[str, Any]) -> bool:
    """The web UI's saved format has a node list; the API format maps ids to nodes."""
    return isinstance(data.get("nodes"), list)


def api_prompt(data: Mapping[str, Any]) -> Prompt:
    """An API-format graph from a file's JSON ({id: node}, or {"prompt": {id: node}})."""
    graph = data.get("prompt") if isinstance(data.get("prompt"), dict) else data
    if not graph or not all(isinstance(node, dict) and "class_type" in node for node in graph.values()):
        raise InputError(
            "workflow: not a ComfyUI workflow: expected the API format ({id: {class_type, inputs}}) "
            "or the UI format (with a 'nodes' list)"
        )
    return {str(key): json.loads(json.dumps(node)) for key, node in graph.items()}


def _widgets(spec: Mapping[str, Any]) -> list[tuple[str, Any, Mapping[str, Any]]]:
    """(name, type, options) of a node class's widget inputs, in the order the UI stores their values."""
    found = []
    order = spec.get("input_order") or {section: list(spec["input"].get(section, {})) for section in ("required", "optional")}
    for section in ("required", "optional"):
        for name in order.get(section, []):
            entry = spec["input"].get(section, {}).get(name)
            if not entry:
                continue
            kind = entry[0]
            options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
            if not options.get("forceInput") and (isinstance(kind, list) or kind in WIDGET_TYPES):
                found.append((name, kind, options))
    return found


def widget_names(spec: Mapping[str, Any]) -> list[str]:
    """Names of a node class's widget inputs, in the order the UI stores their values."""
    return [name for name, _, _ in _widgets(spec)]


def _widget_values(node: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """Map a UI node's widgets_values onto input names, skipping the UI-only extra values.

    The UI stores one extra value after a seed-like INT (its "control after
    generate" choice) and after an image-upload combo (the upload button).
    """
    stored = node.get("widgets_values") or []
    if isinstance(stored, dict):
        return {name: stored[name] for name in widget_names(spec) if name in stored}
    values: dict[str, Any] = {}
    index = 0
    for name, kind, options in _widgets(spec):
        if index >= len(stored):
            break
        values[name] = stored[index]
        index += 1
        has_control = options.get("control_after_generate") or (kind == "INT" and name in ("seed", "noise_seed"))
        if index < len(stored) and (
            (has_control and stored[index] in CONTROL_VALUES) or (options.get("image_upload") and stored[index] == "image")
        ):
            index += 1
    return values


def _ui_links(data: Mapping[str, Any]) -> dict[int, tuple[int, int]]:
    """link id -> (origin node id, origin slot), for both link layouts the UI has used."""
    links: dict[int, tuple[int, int]] = {}
    for link in data.get("links") or []:
        if isinstance(link, dict):
            links[int(link["id"])] = (int(link["origin_id"]), int(link["origin_slot"]))
        else:
            links[int(link[0])] = (int(link[1]), int(link[2]))
    return links


def ui_to_api(data: Mapping[str, Any], object_info: Mapping[str, Any]) -> Prompt:
    """Convert the web UI's workflow format to the API format, as the UI does when it queues.

    Widget values are matched to inputs in `/object_info`'s order; links
    through Reroute nodes are followed; muted nodes are left out. Subgraphs
    and bypassed nodes are refused: export such a workflow in API format.
    """
    if (data.get("definitions") or {}).get("subgraphs"):
        raise InputError("workflow: it uses subgraphs, which this client does not expand; export it in API format")
    nodes = {int(node["id"]): node for node in data["nodes"]}
    links = _ui_links(data)

    def source(link_id: int) -> tuple[int, int] | None:
        """Follow a link back through Reroutes; None for a link from a UI-only value node."""
        seen = set()
        while link_id in links and link_id not in seen:
            seen.add(link_id)
            origin, slot = links[link_id]
            node = nodes.get(origin)
            if node is None:
                return None
            if node.get("type") == "Reroute":
                upstream = [i.get("link") for i in node.get("inputs") or [] if i.get("link") is not None]
                if not upstream:
                    return None
                link_id = int(upstream[0])
                continue
            if node.get("type") in UI_ONLY_TYPES or node.get("mode") == MODE_MUTED:
                return None
            return origin, slot
        return None

    prompt: Prompt = {}
    for node_id, node in sorted(nodes.items()):
        kind = node.get("type")
        if kind in UI_ONLY_TYPES or node.get("mode") == MODE_MUTED:
            continue
        if node.get("mode") == MODE_BYPASSED:
            raise InputError(f"workflow: node {node_id} ({kind}) is bypassed; un-bypass or remove it, or export in API format")
        spec = object_info.get(kind)
        if spec is None:
            raise InputError(
                f"workflow: node {node_id} has type {kind!r}, which the server does not have "
                "(is its custom node pack installed?)"
            )
        inputs: dict[str, Any] = dict(_widget_values(node, spec))
        for entry in node.get("inputs") or []:
            if entry.get("link") is None:
                continue
            origin = source(int(entry["link"]))
            if origin is not None:
                inputs[entry["name"]] = [str(origin[0]), origin[1]]
        title = node.get("title") or spec.get("display_name") or kind
        prompt[str(node_id)] = {"inputs": inputs, "class_type": kind, "_meta": {"title": title}}
    if not prompt:
        raise InputError("workflow: it has no nodes the server can run")
    return prompt


# ------------------------------------------------------------- editing the graph


def find_node(prompt: Prompt, name: str, what: str) -> str:
    """A node id from an id, or a title (case-insensitive; a unique prefix is enough)."""
    if name in prompt:
        return name
    titles = {key: str(node.get("_meta", {}).get("title", "")).lower() for key, node in prompt.items()}
    wanted = name.lower()
    for matches in ([k for k, t in titles.items() if t == wanted], [k for k, t in titles.items() if t.startswith(wanted)]):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InputError(f"{what}: {name!r} matches several nodes ({', '.join(matches)}); use a node id")
    known = ", ".join(f"{k} ({node.get('_meta', {}).get('title', node['class_type'])})" for k, node in prompt.items())
    raise InputError(f"{what}: no node {name!r} in the workflow; nodes are {known}")


def parse_value(text: str) -> Any:
    """A --set value: JSON if it parses (numbers, true/false, lists), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_sets(prompt: Prompt, sets: Sequence[str]) -> None:
    """--set NODE.INPUT=VALUE, NODE being an id or a title."""
    for item in sets:
        target, eq, value = item.partition("=")
        node_name, dot, input_name = target.rpartition(".")
        if not eq or not dot or not node_name or not input_name:
            raise InputError(f"set: {item!r} is not NODE.INPUT=VALUE, e.g. 5.steps=50")
        node = find_node(prompt, node_name, "set")
        prompt[node]["inputs"][input_name] = parse_value(value)


@dataclass
class InputSlot:
    """Where an uploaded image goes: a node input, or a whole node replaced by LoadImage."""

    node: str
    input: str
    replace_node: bool = False


def resolve_input(prompt: Prompt, name: str, object_info: Mapping[str, Any] | None) -> InputSlot:
    """--input NAME: NODE.INPUT, a node with an `image` input, or an IMAGE source node to replace."""
    node_name, dot, input_name = name.rpartition(".")
    if dot and node_name and input_name and not name.endswith("."):
        try:
            return InputSlot(find_node(prompt, node_name, "input"), input_name)
        except InputError:
            pass  # a title with a dot in it: try the whole name below
    node = find_node(prompt, name, "input")
    if "image" in prompt[node]["inputs"]:
        return InputSlot(node, "image")
    spec = (object_info or {}).get(prompt[node]["class_type"], {})
    if (spec.get("output") or [None])[0] == "IMAGE" and "LoadImage" in (object_info or {}):
        return InputSlot(node, "image", replace_node=True)
    raise InputError(
        f"input: node {node} ({prompt[node]['class_type']}) takes no image; name a Load Image node, "
        "an image-producing node, or NODE.INPUT"
    )


def set_uploaded(prompt: Prompt, slot: InputSlot, uploaded: str) -> None:
    """Point the slot at an uploaded file (a replaced node keeps its id, so its links still hold)."""
    if slot.replace_node:
        title = prompt[slot.node].get("_meta", {}).get("title", "Load Image")
        prompt[slot.node] = {"inputs": {"image": uploaded}, "class_type": "LoadImage", "_meta": {"title": title}}
    else:
        prompt[slot.node]["inputs"][slot.input] = uploaded
